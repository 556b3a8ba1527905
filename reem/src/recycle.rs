//! A spare read buffer per thread: the bytes of a large array read from Redis land in memory
//! that a previous read already touched.
//!
//! Reading an `f64` array copies its bytes once, from the reply's buffer into the array's own
//! aligned element vector (a `Vec<u8>` cannot become a `Vec<f64>`). After that copy the
//! reply's buffer is free; instead of returning it to the allocator (which, for buffers of a
//! megabyte and more, often gives the pages back to the system, so that the next read faults
//! them in again, one page fault per 4 KiB), the decoder hands it back here
//! ([`give_back`]), and the transport's next large bulk string on the same thread is read
//! into it ([`take`]). The element vector is then the only fresh memory of a read.
//!
//! Bounds: one buffer per thread, of [`MIN`] to [`MAX`] bytes, kept only by threads that read
//! replies with reem's own connections (a thread that never [`take`]s never keeps one), and
//! used only for a bulk string that fills at least three quarters of it, so that a buffer
//! that becomes a one-byte array (whose reply buffer is the array) wastes at most a third of
//! what the array holds.
//! A recycled buffer holds stale bytes of an earlier reply until the read overwrites every
//! one of them; a read that fails drops it.

use std::cell::{Cell, RefCell};

/// Smaller buffers come and go through the allocator's free lists without page faults.
pub(crate) const MIN: usize = 256 * 1024;
/// Largest buffer kept per thread.
pub(crate) const MAX: usize = 64 << 20;

thread_local! {
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// This thread reads replies with reem's connections (it has called [`take`]).
    static READS: Cell<bool> = const { Cell::new(false) };
}

/// A buffer of exactly `len` initialized bytes (contents unspecified) for a bulk string of
/// `len` bytes: this thread's spare buffer if it fits, else a new zeroed one.
pub(crate) fn take(len: usize) -> Vec<u8> {
    if len < MIN {
        return vec![0; len];
    }
    READS.with(|r| r.set(true));
    let spare = SPARE
        .try_with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            // Use it only if the value fills at least three quarters of it.
            (s.len() >= len && s.len() - s.len() / 4 <= len).then(|| std::mem::take(&mut *s))
        })
        .ok()
        .flatten();
    match spare {
        Some(mut buf) => {
            buf.truncate(len);
            buf
        }
        None => vec![0; len],
    }
}

/// Keeps `buf` (a reply's buffer whose bytes were copied elsewhere) as this thread's spare
/// buffer, if this thread reads with reem's connections and the size is within bounds;
/// otherwise drops it.
pub(crate) fn give_back(mut buf: Vec<u8>) {
    // Every byte up to the capacity is initialized only up to `len`: keep what is.
    if buf.len() < MIN || buf.len() > MAX || !READS.with(|r| r.get()) {
        return;
    }
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if buf.len() >= s.len() {
                std::mem::swap(&mut *s, &mut buf);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_by_a_read_it_suits() {
        std::thread::spawn(|| {
            let spare = || SPARE.with(|s| (s.borrow().len(), s.borrow().as_ptr()));
            // A thread that never took keeps nothing.
            give_back(vec![1; MIN]);
            assert_eq!(spare().0, 0);
            // Small bulk strings never touch the spare.
            assert_eq!(take(10).len(), 10);
            let a = take(2 * MIN);
            let a_ptr = a.as_ptr();
            give_back(a);
            assert_eq!(spare(), (2 * MIN, a_ptr));
            // Filling less than three quarters of it: a fresh buffer, the spare stays.
            let b = take(MIN);
            assert_ne!(b.as_ptr(), a_ptr);
            assert_eq!(spare().0, 2 * MIN);
            // A smaller buffer does not replace a larger spare.
            give_back(b);
            assert_eq!(spare(), (2 * MIN, a_ptr));
            // Filling three quarters or more: the spare, cut to size.
            let c = take(2 * MIN - MIN / 2);
            assert_eq!((c.len(), c.as_ptr()), (2 * MIN - MIN / 2, a_ptr));
            assert_eq!(spare().0, 0);
            // Larger than the bound: not kept.
            give_back(vec![0; MAX + 1]);
            assert_eq!(spare().0, 0);
        })
        .join()
        .unwrap();
    }
}
