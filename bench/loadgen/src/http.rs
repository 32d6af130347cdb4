//! A minimal HTTP/1.1 keep-alive client over one TCP connection: enough for loopback
//! benchmarking (Content-Length and chunked bodies, reconnect after `Connection: close`).

use std::io;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `http://host:port/path` split into the address to dial and the path.
#[derive(Debug, Clone)]
pub struct Url {
    /// `host:port`.
    pub authority: String,
    /// Path and query, starting with `/` (`/` when the URL has none).
    pub path: String,
}

impl Url {
    /// Parses an `http://` URL; https is not supported (loopback only).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path: path.to_string(),
        })
    }
}

/// Builds a raw request. `headers` are complete `Name: value` lines without CRLF.
pub fn format_request(
    method: &str,
    authority: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Vec<u8> {
    let mut r = Vec::with_capacity(200 + body.len());
    r.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\n").as_bytes());
    for h in headers {
        r.extend_from_slice(h.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection; reconnects lazily after an error or `Connection: close`.
pub struct Conn {
    authority: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    /// A connection to `authority` (`host:port`), opened now.
    pub async fn open(authority: &str) -> io::Result<Self> {
        let mut c = Self {
            authority: authority.to_string(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        };
        c.connect().await?;
        Ok(c)
    }

    /// `n` open connections to `authority` (at least one).
    pub async fn pool(authority: &str, n: usize) -> Result<Vec<Self>, String> {
        let mut pool = Vec::with_capacity(n.max(1));
        for _ in 0..n.max(1) {
            pool.push(Self::open(authority).await.map_err(|e| e.to_string())?);
        }
        Ok(pool)
    }

    async fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(&self.authority).await?;
        s.set_nodelay(true)?;
        self.stream = Some(s);
        self.buf.clear();
        Ok(())
    }

    /// Sends `raw` and reads the whole response. On an I/O error the connection is
    /// dropped (the next call reconnects) and the error returned.
    pub async fn send(&mut self, raw: &[u8]) -> io::Result<Response> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        match self.exchange(raw).await {
            Ok((resp, keep)) => {
                if !keep {
                    self.stream = None;
                }
                Ok(resp)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let stream = self.stream.as_mut().expect("connected");
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn exchange(&mut self, raw: &[u8]) -> io::Result<(Response, bool)> {
        self.stream
            .as_mut()
            .expect("connected")
            .write_all(raw)
            .await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head too long"));
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("non-UTF-8 head"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut keep = status_line.starts_with("HTTP/1.1");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().map_err(|_| bad("bad content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep = false;
                } else if v.contains("keep-alive") {
                    keep = true;
                }
            }
        }
        let body_start = head_end + 4;
        let body = if chunked {
            self.read_chunked(body_start).await?
        } else if let Some(n) = length {
            while self.buf.len() < body_start + n {
                self.fill().await?;
            }
            self.buf[body_start..body_start + n].to_vec()
        } else if status == 204 || status == 304 {
            Vec::new()
        } else {
            // Body until close.
            loop {
                match self.fill().await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            keep = false;
            self.buf[body_start..].to_vec()
        };
        Ok((Response { status, body }, keep))
    }

    async fn read_chunked(&mut self, mut pos: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                    break pos + i;
                }
                self.fill().await?;
            };
            let size_text =
                std::str::from_utf8(&self.buf[pos..line_end]).map_err(|_| bad("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
            pos = line_end + 2;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(&self.buf[pos..], b"\r\n") {
                        if i == 0 {
                            return Ok(body);
                        }
                        pos += i + 2;
                        continue;
                    }
                    self.fill().await?;
                }
            }
            while self.buf.len() < pos + size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[pos..pos + size]);
            pos += size + 2;
        }
    }
}
