//! A minimal HTTP/1.1 client connection for the load generators: write a prebuilt request,
//! read the head, then exactly Content-Length bytes. On a 2-core machine the client shares the
//! CPU with the server, so it does as little as it can.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection; requests are never pipelined.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

impl Wire {
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; 16 * 1024],
            filled: 0,
        })
    }

    /// Sends one request and reads one response by its Content-Length; returns the status and
    /// the body (valid until the next call).
    pub async fn call(&mut self, request: &[u8]) -> io::Result<(u16, &[u8])> {
        self.stream.write_all(request).await?;
        let mut scanned = 0;
        let head_end = loop {
            if let Some(at) = self.buf[scanned..self.filled]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break scanned + at + 4;
            }
            scanned = self.filled.saturating_sub(3);
            self.fill().await?;
        };
        let (status, length) = parse_head(&self.buf[..head_end])?;
        let end = head_end + length;
        while self.filled < end {
            self.fill().await?;
        }
        // Requests are never pipelined, so nothing may follow the body; the next call starts
        // on an empty buffer.
        if self.filled != end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected bytes after a response",
            ));
        }
        self.filled = 0;
        Ok((status, &self.buf[head_end..end]))
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        match self.stream.read(&mut self.buf[self.filled..]).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.filled += n;
                Ok(())
            }
        }
    }
}

/// The status code and Content-Length of a response head.
pub fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let text = std::str::from_utf8(head).map_err(|_| bad("the response head is not text"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("not an HTTP/1.1 status line"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("connection")
            && value.trim().eq_ignore_ascii_case("close")
        {
            return Err(bad("the server closed the connection"));
        }
    }
    Ok((
        status,
        length.ok_or_else(|| bad("a response without Content-Length"))?,
    ))
}
