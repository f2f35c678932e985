//! Reading a connection's socket in large reads without a large buffer per
//! connection: [`ReadAhead`] reads up to its size from the socket into one
//! scratch buffer per thread (shard), hands the reader what it asked for,
//! and keeps only the rest, in an allocation of exactly that size, freed
//! once taken. An idle connection holds no read buffer here, and the
//! WebSocket and RawSocket readers above it keep small buffers of their own
//! (`serve.rs`), while a busy connection still reads up to
//! `read_buffer_size` bytes per system call.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

thread_local! {
    /// Where reads land before they are handed out: one per thread, as
    /// large as the largest `size` used on it. Borrowed only inside one
    /// `poll_read`, never across an await.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A stream whose reads take up to `size` bytes from the socket at a time,
/// keeping what the caller did not take until it reads again.
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Bytes read and not yet taken (`spill[at..]`); no allocation when
    /// there are none.
    spill: Vec<u8>,
    at: usize,
    size: usize,
}

impl<S> ReadAhead<S> {
    /// Wraps `inner`; each read from it takes up to `size` bytes.
    pub(crate) fn new(inner: S, size: usize) -> ReadAhead<S> {
        ReadAhead {
            inner,
            spill: Vec::new(),
            at: 0,
            size: size.max(1),
        }
    }

    /// Hands out spilled bytes into `dst`; frees the spill once it is all taken.
    fn take_spill(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.spill.len() - self.at);
        dst[..n].copy_from_slice(&self.spill[self.at..self.at + n]);
        self.at += n;
        if self.at == self.spill.len() {
            self.spill = Vec::new();
            self.at = 0;
        }
        n
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.at < this.spill.len() {
            return Poll::Ready(Ok(this.take_spill(dst)));
        }
        if dst.len() >= this.size || dst.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, dst);
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Not reached (nothing reads a ReadAhead from inside
                // another's read); read without the scratch if it were.
                return Pin::new(&mut this.inner).poll_read(cx, dst);
            };
            if scratch.len() < this.size {
                scratch.resize(this.size, 0);
            }
            let buf = &mut scratch[..this.size];
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(k)) => {
                    let n = k.min(dst.len());
                    dst[..n].copy_from_slice(&buf[..n]);
                    if k > n {
                        this.spill = buf[n..k].to_vec();
                        this.at = 0;
                    }
                    Poll::Ready(Ok(n))
                }
                other => other,
            }
        })
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::ReadAhead;
    use futures_lite::io::{AsyncReadExt, Cursor};

    #[test]
    fn small_reads_get_every_byte_in_order_and_spill_is_freed() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for (size, ask) in [(2048, 7), (2048, 256), (100, 300), (1, 5), (4096, 4096)] {
            let mut r = ReadAhead::new(Cursor::new(data.clone()), size);
            let mut got = Vec::new();
            let mut chunk = vec![0u8; ask];
            loop {
                let n = futures_lite::future::block_on(r.read(&mut chunk)).expect("reads");
                if n == 0 {
                    break;
                }
                assert!(n <= ask);
                got.extend_from_slice(&chunk[..n]);
                if r.spill.is_empty() {
                    assert_eq!(r.spill.capacity(), 0, "nothing spilled is held");
                }
            }
            assert_eq!(got, data, "size {size}, reads of {ask}");
            assert_eq!(r.spill.capacity(), 0);
        }
    }
}
