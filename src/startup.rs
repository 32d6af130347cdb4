//! Start-up: builds the shared state, binds the listener (port 0 in tests) and runs the
//! serving threads ([`crate::serve`]) until a shutdown signal, finishing requests in
//! flight.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use tokio::sync::{Notify, watch};

use crate::{
    calllog::CallLog,
    clock::Clock,
    config::Settings,
    db::{self, Db},
    demo::{self, Demo},
    directory::Directory,
    domain::TenantSpec,
    heartbeat::{DEFAULT_MAX_SILENCE, Heartbeats},
    inference::InferenceClient,
    metrics::Metrics,
    readiness::Readiness,
    replay::Replays,
    routes::{Surface, throttle::Throttle},
    serve::{self, Serving},
    signature::Verifier,
    sms::{self, MessagingClient, client::Timeouts},
    supervise,
    texml::docs::{Library, cards::Cards},
    token::TokenSigner,
};

/// Shared state handed to every request. poem clones it into each request, so it is one
/// `Arc` (one atomic increment per request, not one per field); fields are reached through
/// `Deref` to [`State`].
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl std::ops::Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

/// What every request can reach.
pub struct State {
    /// Settings as loaded.
    pub settings: Arc<Settings>,
    /// The SQLite handle when the store is a SQLite file (its checkpoints, the CLI, tests);
    /// `None` on PostgreSQL. Everything else goes through [`State::store`].
    pub sqlite: Option<Db>,
    /// The store's interfaces per aggregate (docs/storage.md).
    pub store: db::store::Store,
    /// Telnyx signature check.
    pub verifier: Arc<Verifier>,
    /// State-token signer.
    pub tokens: Arc<TokenSigner>,
    /// Source of "now".
    pub clock: Clock,
    /// When the server started (for `/health`).
    pub started: Instant,
    /// Operator-edited TeXML documents, kept current by polling.
    pub docs: Library,
    /// What documents know of each tenant, so the fallback needs no database.
    pub cards: Cards,
    /// Tenants by number and id, so the hot paths skip SQLite.
    pub directory: Directory,
    /// Call starts, written in batches.
    pub calls: CallLog,
    /// Poked when texts are queued, so the SMS worker sends them without waiting for its
    /// next poll.
    pub outbox: Arc<Notify>,
    /// The Messaging API client; `None` means dry run (see `Settings::sms_mode`).
    pub messaging: Option<MessagingClient>,
    /// The TeXML Calls API, to redirect a reminder call to its voicemail; `None` in dry run.
    pub reminder_calls: Option<crate::reminder_calls::TexmlCalls>,
    /// AI Inference, for gather results without their fields; `None` without
    /// `TELNYX_API_KEY` or with `SLOTLINE_INFERENCE_TIMEOUT_MS=0`.
    pub inference: Option<InferenceClient>,
    /// Why reminder calls are recorded as dry run, when `reminder_calls` is `None`.
    pub calls_dry_run: String,
    /// Demo mode's key and token files (`serve --demo` only).
    pub demo: Option<Demo>,
    /// Signatures accepted in the last 300 s, so a body is not replayed on another route.
    pub replays: Arc<Replays>,
    /// Wrong admin tokens per client, so the token cannot be guessed at line rate.
    pub admin_throttle: Arc<Throttle>,
    /// Requests per calendar feed, so one feed URL cannot be polled at line rate.
    pub feed_limiter: Arc<crate::feeds::FeedLimiter>,
    /// Every background task's heartbeat; a task added later registers here.
    pub heartbeats: Arc<Heartbeats>,
    /// What `/ready` checks.
    pub readiness: Readiness,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// Signs the operator console's session cookies.
    pub console: Arc<crate::console::Keys>,
}

/// Why slotline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    /// Demo mode's key or token file could not be read or written.
    #[error("demo mode: {0}")]
    Demo(#[from] demo::DemoError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A bound, ready-to-run server.
pub struct Application {
    addr: SocketAddr,
    /// Non-blocking; the serving threads accept from duplicates of it.
    listener: std::net::TcpListener,
    /// The admin API's own listener (`SLOTLINE_ADMIN_LISTEN`), when set.
    admin: Option<(SocketAddr, std::net::TcpListener)>,
    state: AppState,
    /// Held while serving, so `slotline restore` refuses to replace the database.
    serving_lock: Option<crate::backup::ServingLock>,
}

/// How the database is opened.
#[derive(Clone, Copy)]
enum Access {
    /// Created and migrated if needed; the URL secret is generated if missing.
    ReadWrite,
    /// Only read: CLI commands that must leave the database as it is.
    ReadOnly,
}

impl State {
    /// The SQLite handle; for the CLI and tests on a SQLite store.
    ///
    /// # Panics
    /// On a PostgreSQL store, which has none.
    pub fn db(&self) -> &Db {
        self.sqlite
            .as_ref()
            .expect("the SQLite handle of a store that is PostgreSQL")
    }
}

/// A URL secret for a state that must not store one: tokens it signs are valid only in
/// its own output.
fn throwaway_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl AppState {
    /// Opens the database and prepares keys, without binding anything. In demo mode this
    /// creates the demo key and token beside the database on first start.
    pub fn new(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        Self::open(settings, clock, Access::ReadWrite)
    }

    /// The same state over `SLOTLINE_DB` opened read-only ([`Db::open_read_only`], or
    /// [`db::postgres::Pg::open_read_only`] on a URL): nothing is migrated or created, and
    /// without a stored URL secret a throwaway one signs tokens. For `texml preview`,
    /// which only reads.
    pub async fn read_only(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let Some(url) = settings.db_url.clone() else {
            return Self::open(settings, clock, Access::ReadOnly);
        };
        let store = db::store::Store::Postgres(db::postgres::Pg::open_read_only(&url).await?);
        let secret = match &settings.url_secret {
            Some(s) => s.expose().to_string(),
            None => store
                .tenants()
                .stored_url_secret()
                .await?
                .unwrap_or_else(throwaway_secret),
        };
        let tenants = store.tenants().list().await?;
        Self::assemble(settings, clock, store, None, secret, tenants)
    }

    fn open(settings: Settings, clock: Clock, access: Access) -> Result<Self, StartError> {
        let db = match access {
            Access::ReadWrite => {
                Db::open_with(&settings.db_path, settings.upkeep.synchronous_full)?
            }
            Access::ReadOnly => Db::open_read_only(&settings.db_path)?,
        };
        let secret = match (&settings.url_secret, access) {
            (Some(s), _) => s.expose().to_string(),
            (None, Access::ReadWrite) => db.run_blocking(db::settings::url_secret)?,
            (None, Access::ReadOnly) => db
                .run_blocking(db::settings::stored_url_secret)?
                .unwrap_or_else(throwaway_secret),
        };
        let tenants = db.run_blocking(|c| db::tenants::list(c))?;
        let store = db::store::Store::Sqlite(db.clone());
        Self::assemble(settings, clock, store, Some(db), secret, tenants)
    }

    /// The state over `SLOTLINE_DB`, a SQLite file or a PostgreSQL database (connected and
    /// migrated here; nodes starting together migrate once).
    pub async fn connect(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let Some(url) = settings.db_url.clone() else {
            return Self::new(settings, clock);
        };
        let store = db::store::Store::Postgres(db::postgres::Pg::open(&url).await?);
        let secret = match &settings.url_secret {
            Some(s) => s.expose().to_string(),
            None => store.tenants().url_secret().await?,
        };
        let tenants = store.tenants().list().await?;
        Self::assemble(settings, clock, store, None, secret, tenants)
    }

    /// Everything else, over an opened store (`sqlite`: its handle when it is SQLite),
    /// signing with `secret`, knowing `tenants` as they are now.
    fn assemble(
        mut settings: Settings,
        clock: Clock,
        store: db::store::Store,
        sqlite: Option<Db>,
        secret: String,
        tenants: Vec<db::tenants::Tenant>,
    ) -> Result<Self, StartError> {
        let mut verifier = Verifier::new(
            settings.telnyx_public_key.as_deref(),
            settings.insecure_skip_signatures,
        )
        .map_err(|e| StartError::Config(e.to_string()))?;
        let demo = if settings.demo {
            let dir = demo::dir_for(&settings.db_path);
            let demo = demo::load_or_create(&dir, settings.admin_token.is_none())?;
            verifier = verifier.also_accepting(demo.public_key);
            if settings.admin_token.is_none() {
                settings.admin_token = demo.token.clone();
            }
            Some(demo)
        } else {
            None
        };
        let cards = Cards::default();
        for tenant in &tenants {
            cards.put(tenant.id, &tenant.spec);
        }
        let directory = Directory::default();
        if matches!(store, db::store::Store::Postgres(_)) {
            // Every tenant from memory from the start, so the voice URL keeps answering
            // while the database is away (the change listener keeps it current).
            directory.reload(directory.generation(), tenants, |_| {})?;
        }
        let docs = Library::load(&settings.texml_dir);
        // Only `serve` insists on a key or an explicit dry run (Application::build); the CLI
        // commands that build this state never send.
        let key = match settings.sms_mode() {
            Ok(crate::config::SmsMode::Send(key)) => Some(key),
            _ => None,
        };
        let messaging = key
            .map(|key| {
                let timeouts = Timeouts {
                    connect: settings.sms.connect_timeout,
                    total: settings.sms.request_timeout,
                };
                MessagingClient::new(&settings.telnyx_api_base, key, timeouts)
            })
            .transpose()
            .map_err(|e| {
                StartError::Config(format!("cannot build the Messaging API client: {e}"))
            })?;
        let inference = settings
            .telnyx_api_key
            .clone()
            .filter(|_| !settings.inference.timeout.is_zero())
            .map(|key| InferenceClient::new(&settings.telnyx_api_base, key))
            .transpose()
            .map_err(|e| {
                StartError::Config(format!("cannot build the AI Inference client: {e}"))
            })?;
        let (reminder_calls, calls_dry_run) = calls_client(&settings);
        // Needs a tokio runtime: AppState is built inside one (server and CLI alike).
        let heartbeats = Arc::new(Heartbeats::default());
        let (calls, writer) = CallLog::spawn(
            store.clone(),
            heartbeats.register("call log", DEFAULT_MAX_SILENCE),
        );
        heartbeats.attach("call log", writer.abort_handle());
        let settings = Arc::new(settings);
        // The writer's queue and holds are SQLite's (PostgreSQL has no writer thread).
        let db_stats = store.writer_stats();
        let readiness = Readiness::new(
            store.clone(),
            heartbeats.clone(),
            clock.clone(),
            settings.clone(),
        );
        let console = crate::console::Keys::new(
            secret.as_bytes(),
            settings.admin_token.as_ref().map(|t| t.expose()),
        );
        Ok(Self(Arc::new(State {
            docs,
            cards,
            directory,
            calls,
            settings,
            store,
            sqlite,
            verifier: Arc::new(verifier),
            tokens: Arc::new(TokenSigner::new(secret.as_bytes())),
            clock,
            started: Instant::now(),
            outbox: Arc::new(Notify::new()),
            messaging,
            reminder_calls,
            calls_dry_run,
            inference,
            demo,
            replays: Arc::default(),
            admin_throttle: Arc::default(),
            feed_limiter: Arc::default(),
            heartbeats,
            readiness,
            metrics: Arc::new(Metrics::new(db_stats)),
            console: Arc::new(console),
        })))
    }
}

impl Application {
    /// Checks the settings, opens everything and binds the listen address (and the admin
    /// one, when set).
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        settings
            .check_for_serving()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let listen = settings.listen.clone();
        let admin_listen = settings.admin_listen.clone();
        settings
            .sms_mode()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let state = AppState::connect(settings, clock).await?;
        let serving_lock = match state.sqlite.as_ref() {
            // Nothing to restore over on PostgreSQL: `slotline restore` is SQLite's.
            None => Ok(None),
            Some(_) => crate::backup::ServingLock::acquire(&state.settings.db_path),
        };
        let serving_lock = match serving_lock {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                tracing::warn!(db = %state.settings.db_path.display(), "another slotline already serves this database");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot lock the database against restores");
                None
            }
        };
        let beats = &state.heartbeats;
        let watcher = state
            .docs
            .spawn_watcher(beats.register("document watcher", DEFAULT_MAX_SILENCE));
        beats.attach("document watcher", watcher.abort_handle());
        let (addr, listener) = bind(&listen).await?;
        let admin = match admin_listen {
            Some(a) => Some(bind(&a).await?),
            None => None,
        };
        Ok(Self {
            addr,
            listener,
            admin,
            state,
            serving_lock,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin API's own bound address, when `SLOTLINE_ADMIN_LISTEN` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(addr, _)| *addr)
    }

    /// The shared state (tests use it to reach the database and clock).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Loads `spec` if the database has no tenant yet; returns whether it did.
    pub async fn seed_if_empty(&self, spec: &TenantSpec) -> Result<bool, db::DbError> {
        let tenants = self.state.store.tenants();
        if !tenants.is_empty().await? {
            return Ok(false);
        }
        let tenant = tenants.insert(spec.clone()).await?;
        self.state.directory.clear();
        self.state.cards.put(tenant.id, &tenant.spec);
        Ok(true)
    }

    /// Serves (and runs the SMS worker) until `shutdown` resolves, then lets requests in
    /// flight finish (up to 10 s) and stops the worker after the text it is sending.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let sockets: Vec<(&std::net::TcpListener, Surface)> = match &self.admin {
            Some((_, admin)) => vec![(&self.listener, Surface::Telnyx), (admin, Surface::Admin)],
            None => vec![(&self.listener, Surface::All)],
        };
        let state = self.state.clone();
        let beats = &self.state.heartbeats;
        let beat = beats.register("housekeeping", DEFAULT_MAX_SILENCE);
        let upkeep = supervise::spawn("housekeeping", move || {
            housekeeping(state.clone(), beat.clone())
        });
        beats.attach("housekeeping", upkeep.abort_handle());
        let (stop_worker, worker_stop) = watch::channel(false);
        let settings = &self.state.settings;
        let worker = sms::outbox::spawn(
            sms::outbox::Deps {
                store: self.state.store.clone(),
                clock: self.state.clock.clone(),
                client: self.state.messaging.clone(),
                wake: self.state.outbox.clone(),
                tuning: settings.sms.clone(),
                public_url: settings.public_url.clone(),
                default_profile: settings.messaging_profile_id.clone(),
                api_base: settings.telnyx_api_base.clone(),
                beat: beats.register("SMS worker", DEFAULT_MAX_SILENCE),
            },
            worker_stop.clone(),
        );
        let hooks = crate::webhooks::spawn(
            crate::webhooks::Deps {
                store: self.state.store.clone(),
                clock: self.state.clock.clone(),
                tuning: settings.webhooks.clone(),
                allow_private: settings.webhooks_allow_private,
                beat: beats.register("webhook worker", DEFAULT_MAX_SILENCE),
            },
            worker_stop,
        );
        beats.attach("webhook worker", hooks.abort_handle());
        let dialer = crate::reminder_calls::dialer::spawn(
            crate::reminder_calls::dialer::Deps {
                store: self.state.store.clone(),
                clock: self.state.clock.clone(),
                client: self.state.reminder_calls.clone(),
                dry_run_reason: self.state.calls_dry_run.clone(),
                tokens: self.state.tokens.clone(),
                settings: settings.calls.clone(),
                public_url: settings.public_url.clone(),
                beat: beats.register("reminder-call dialer", DEFAULT_MAX_SILENCE),
            },
            stop_worker.subscribe(),
        );
        beats.attach("reminder-call dialer", dialer.abort_handle());
        beats.attach("SMS worker", worker.abort_handle());
        let retention = Arc::new(crate::retention::Deps {
            store: self.state.store.clone(),
            node: crate::retention::node_name(&settings.listen),
            clock: self.state.clock.clone(),
            upkeep: settings.upkeep.clone(),
            metrics: self.state.metrics.clone(),
            beat: beats.register("retention", DEFAULT_MAX_SILENCE),
        });
        let pruning = supervise::spawn("retention", move || {
            crate::retention::run(retention.clone())
        });
        beats.attach("retention", pruning.abort_handle());
        // On PostgreSQL, other nodes' changes to tenants and documents reach this node's
        // copies through the change listener.
        let follower = settings.db_url.clone().map(|url| {
            let copies = crate::caches::Copies {
                directory: self.state.directory.clone(),
                cards: self.state.cards.clone(),
                docs: self.state.docs.clone(),
            };
            crate::caches::follow(
                url,
                crate::db::postgres::changes::POLL,
                self.state.store.clone(),
                copies,
                |reloaded| match (reloaded.tenants, reloaded.documents) {
                    (Some(Err(e)), _) | (_, Some(Err(e))) => {
                        tracing::warn!(error = %e, "could not reload what another node changed; serving what this node holds")
                    }
                    (tenants, documents) => tracing::debug!(
                        tenants = tenants.and_then(Result::ok),
                        documents = documents.and_then(Result::ok),
                        "reloaded what another node changed"
                    ),
                },
            )
        });
        // Served only once every task is registered, so `/ready` never misses one.
        let serving = match Serving::start(&sockets, &self.state, serve::thread_count()) {
            Ok(serving) => serving,
            Err(e) => {
                if let Some(f) = &follower {
                    f.abort();
                }
                upkeep.abort();
                worker.abort();
                hooks.abort();
                dialer.abort();
                pruning.abort();
                return Err(e);
            }
        };
        drop(sockets);
        drop(self.listener);
        drop(self.admin);
        let _serving_lock = self.serving_lock;
        let (calls, sqlite) = (self.state.calls.clone(), self.state.sqlite.clone());
        let checkpoints = settings.upkeep.checkpoints;
        let served = serving.until(shutdown).await;
        if let Some(f) = &follower {
            f.abort();
        }
        upkeep.abort();
        pruning.abort();
        calls.flush().await;
        if checkpoints
            && let Some(db) = &sqlite
            && let Err(e) = db.checkpoint("TRUNCATE").await
        {
            tracing::warn!(error = %e, "final WAL checkpoint failed");
        }
        let _ = stop_worker.send(true);
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "the SMS worker ended abnormally");
        }
        if let Err(e) = hooks.await {
            tracing::error!(error = %e, "the webhook worker ended abnormally");
        }
        if let Err(e) = dialer.await {
            tracing::error!(error = %e, "the reminder-call dialer ended abnormally");
        }
        served
    }
}

/// The TeXML Calls client for reminder calls, or `None` and why calls are a dry run: no
/// `TELNYX_API_KEY`, no `TELNYX_TEXML_APP_ID`, or the accounts endpoint without
/// `TELNYX_ACCOUNT_SID`.
fn calls_client(settings: &Settings) -> (Option<crate::reminder_calls::TexmlCalls>, String) {
    let calls = &settings.calls;
    let (Some(key), Some(app_id)) = (&settings.telnyx_api_key, &calls.app_id) else {
        let why = if settings.telnyx_api_key.is_none() {
            "TELNYX_API_KEY is not set"
        } else {
            "TELNYX_TEXML_APP_ID is not set (the TeXML application reminder calls belong to)"
        };
        return (None, why.into());
    };
    let config = crate::reminder_calls::CallsConfig {
        base: settings.telnyx_api_base.clone(),
        key: key.clone(),
        app_id: app_id.clone(),
        account_sid: calls.account_sid.clone(),
        endpoint: calls.endpoint,
    };
    match crate::reminder_calls::TexmlCalls::new(config, calls.request_timeout) {
        Ok(client) => (Some(client), String::new()),
        Err(why) => (None, why),
    }
}

/// Binds `addr` and hands back a non-blocking std listener (it leaves this runtime's
/// reactor; each serving thread registers its own duplicate).
async fn bind(addr: &str) -> Result<(SocketAddr, std::net::TcpListener), StartError> {
    let bind_error = |source| StartError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let listener = listener.into_std().map_err(bind_error)?;
    Ok((local, listener))
}

/// How often the WAL is checkpointed. Measured (benches/booking.rs, paced phase): each
/// checkpoint's fsync briefly stalls the writer's WAL appends, and the stall grows with the
/// WAL written since the last one; at 1,280 bookings/s a checkpoint every second gave a p99
/// of 17-28 ms, every 100 ms about 9-10 ms. With nothing new in the WAL it is nearly free.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Checkpoints between two sweeps of expired holds (one a minute).
const TICKS_PER_SWEEP: u64 = 600;
/// Checkpoints between two looks at the WAL's size (one every 10 s).
const TICKS_PER_WAL_CHECK: u64 = 100;
/// A WAL larger than this is truncated: passive checkpoints copy frames back but never
/// restart the WAL while readers keep overlapping, so it could grow without bound.
const WAL_TRUNCATE_AT: u64 = 64 << 20;
/// How long the truncating checkpoint may hold writes back while it waits for readers.
const WAL_TRUNCATE_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Background upkeep: a passive WAL checkpoint every [`CHECKPOINT_EVERY`] (the writer never
/// checkpoints inside a commit), a truncating one when the WAL passes [`WAL_TRUNCATE_AT`]
/// (both off with `SLOTLINE_CHECKPOINTS=0`) and, once a minute, deleting expired holds. The sweep is
/// housekeeping only: bookings already ignore and replace expired holds themselves.
async fn housekeeping(state: AppState, beat: crate::heartbeat::Beat) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        beat.beat();
        // Checkpoints are SQLite's; a PostgreSQL server runs its own.
        let sqlite = state
            .sqlite
            .as_ref()
            .filter(|_| state.settings.upkeep.checkpoints);
        if let Some(db) = sqlite
            && let Err(e) = db.checkpoint("PASSIVE").await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if let Some(db) = sqlite
            && n % TICKS_PER_WAL_CHECK == 0
        {
            let wal = crate::readiness::wal_path(&state.settings.db_path);
            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if size > WAL_TRUNCATE_AT {
                match db.checkpoint_within("TRUNCATE", WAL_TRUNCATE_WAIT).await {
                    Ok(true) => tracing::info!(wal_bytes = size, "truncated a large WAL"),
                    Ok(false) => tracing::warn!(
                        wal_bytes = size,
                        "the WAL is large and readers kept it from being truncated; trying again in 10 s"
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not truncate the WAL"),
                }
            }
        }
        if n % TICKS_PER_SWEEP != 0 {
            continue;
        }
        let now = state.clock.now().as_second();
        match state.store.appointments().sweep_expired_holds(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(holds = n, "released expired holds"),
            Err(e) => tracing::warn!(error = %e, "could not sweep expired holds"),
        }
    }
}
