//! Sequence checks: is a message new to a subscriber, and how many were missed before it?
//!
//! Every message carries its publisher's id and sequence number ([`Stamp`]). A subscriber
//! remembers the last number it accepted from each publisher (the few most recent
//! publishers), so that nothing is delivered twice at the seam between the stored latest
//! value and the live notifications, and gaps are counted.
//!
//! Stamps are untrusted (anyone who may write the key or the channel can forge one), so no
//! stamp can silence a subscriber: a number far *behind* the last one accepted
//! ([`WINDOW`] or more) is taken as a new start of that publisher's count (its last number
//! was forged, or the publisher reused an id), not as a duplicate; and a stored value's
//! stamp far *ahead* is accepted without counting the gap.

use std::collections::VecDeque;

use super::frame::Stamp;

/// How far behind the last accepted number a stamp may be and still be a duplicate: more
/// than the messages that can be in flight while a stored value is read.
pub(crate) const WINDOW: u64 = 4096;

/// Publishers remembered per subscriber (most recent first out).
const PUBLISHERS: usize = 64;

/// How a message came to the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A notification stamped `stamp` announced it (inline, or read from the key after it:
    /// the key may already hold a newer message of the same publisher; the ones in between
    /// were published while subscribed, so they count as skipped).
    Announced(Stamp),
    /// The stored latest value, read at start or after the connection was restored.
    Load,
    /// An entry of the topic's history stream, read in order at start or after the
    /// connection was restored: never delivered again, whatever its distance to the last
    /// number (the history is read forward from what the subscriber already has).
    History,
}

/// The verdict on a stamp.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it; `skipped` messages of its publisher were missed before it.
    New { skipped: u64 },
    /// Already delivered (or superseded): drop it.
    Seen,
}

/// The last number accepted from each recent publisher.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    last: VecDeque<(u64, u64)>,
}

impl Seen {
    fn last(&self, publisher: u64) -> Option<u64> {
        self.last
            .iter()
            .find(|(p, _)| *p == publisher)
            .map(|(_, s)| *s)
    }

    /// Judges `stamp` (`None`: a message without one, always new).
    pub(crate) fn judge(&self, stamp: Option<Stamp>, arrival: Arrival) -> Verdict {
        let Some(stamp) = stamp else {
            return Verdict::New { skipped: 0 };
        };
        let from = match (self.last(stamp.publisher), arrival) {
            (Some(last), _) => Some(last),
            (None, Arrival::Announced(a))
                if a.publisher == stamp.publisher && a.seq <= stamp.seq =>
            {
                Some(a.seq - 1)
            }
            _ => None,
        };
        match from {
            None => Verdict::New { skipped: 0 },
            Some(from) if stamp.seq > from => {
                let gap = stamp.seq - from - 1;
                let trusted = arrival != Arrival::Load || gap < WINDOW;
                Verdict::New {
                    skipped: if trusted { gap } else { 0 },
                }
            }
            Some(_) if arrival == Arrival::History => Verdict::Seen,
            Some(from) if from - stamp.seq >= WINDOW => Verdict::New { skipped: 0 },
            Some(_) => Verdict::Seen,
        }
    }

    /// True once a stamp was accepted.
    pub(crate) fn any(&self) -> bool {
        !self.last.is_empty()
    }

    /// Records `stamp` as the last one accepted from its publisher.
    pub(crate) fn accept(&mut self, stamp: Option<Stamp>) {
        let Some(stamp) = stamp else { return };
        self.last.retain(|(p, _)| *p != stamp.publisher);
        if self.last.len() >= PUBLISHERS {
            self.last.pop_front();
        }
        self.last.push_back((stamp.publisher, stamp.seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn at(publisher: u64, seq: u64) -> Option<Stamp> {
        Some(Stamp { publisher, seq })
    }

    fn seen(stamps: &[Option<Stamp>]) -> Seen {
        let mut s = Seen::default();
        stamps.iter().for_each(|st| s.accept(*st));
        s
    }

    fn announced(publisher: u64, seq: u64) -> Arrival {
        Arrival::Announced(Stamp { publisher, seq })
    }

    #[test]
    fn the_next_number_is_new_and_gaps_are_counted() {
        let s = seen(&[at(1, 4)]);
        assert_eq!(
            s.judge(at(1, 5), announced(1, 5)),
            Verdict::New { skipped: 0 }
        );
        assert_eq!(
            s.judge(at(1, 9), announced(1, 9)),
            Verdict::New { skipped: 4 }
        );
        assert_eq!(s.judge(None, Arrival::Load), Verdict::New { skipped: 0 });
    }

    #[test]
    fn a_number_already_seen_is_not_delivered_again() {
        let s = seen(&[at(1, 4)]);
        assert_eq!(s.judge(at(1, 4), Arrival::Load), Verdict::Seen);
        assert_eq!(s.judge(at(1, 3), announced(1, 3)), Verdict::Seen);
    }

    #[test]
    fn publishers_are_counted_apart() {
        let s = seen(&[at(1, 400), at(2, 3)]);
        assert_eq!(
            s.judge(at(2, 4), announced(2, 4)),
            Verdict::New { skipped: 0 }
        );
        assert_eq!(
            s.judge(at(3, 1), announced(3, 1)),
            Verdict::New { skipped: 0 }
        );
        assert_eq!(
            s.judge(at(1, 401), announced(1, 401)),
            Verdict::New { skipped: 0 }
        );
    }

    #[test]
    fn a_read_newer_than_announced_counts_the_messages_in_between() {
        let s = Seen::default();
        assert_eq!(
            s.judge(at(1, 9), announced(1, 5)),
            Verdict::New { skipped: 4 }
        );
        let s = seen(&[at(1, 2)]);
        assert_eq!(
            s.judge(at(1, 9), announced(1, 5)),
            Verdict::New { skipped: 6 }
        );
    }

    #[test]
    fn a_forged_stamp_never_silences_the_subscriber() {
        // A stored value claiming 2^53 for a real publisher...
        let forged = 1u64 << 53;
        let s = seen(&[at(1, 5)]);
        assert_eq!(
            s.judge(at(1, forged), Arrival::Load),
            Verdict::New { skipped: 0 }
        );
        // ...then the real publisher's next message is still delivered.
        let s = seen(&[at(1, 5), at(1, forged)]);
        assert_eq!(
            s.judge(at(1, 6), announced(1, 6)),
            Verdict::New { skipped: 0 }
        );
        // Numbers just behind the last one are duplicates (the seam of a load).
        let s = seen(&[at(1, 10_000)]);
        assert_eq!(
            s.judge(at(1, 10_000 - WINDOW + 1), announced(1, 1)),
            Verdict::Seen
        );
        assert_eq!(
            s.judge(at(1, 10_000 - WINDOW), announced(1, 1)),
            Verdict::New { skipped: 0 }
        );
        assert_eq!(
            s.judge(at(1, 10_000 + WINDOW), announced(1, 10_000 + WINDOW)),
            Verdict::New {
                skipped: WINDOW - 1
            }
        );
    }

    #[test]
    fn memory_is_bounded_by_the_number_of_publishers_remembered() {
        let mut s = Seen::default();
        for p in 0..1000 {
            s.accept(at(p, 1));
        }
        assert_eq!(s.last.len(), PUBLISHERS);
        assert_eq!(s.judge(at(999, 1), Arrival::Load), Verdict::Seen);
    }

    mod properties {
        use super::*;
        use crate::pubsub::frame;
        use proptest::prelude::*;

        /// Stored stamps as another writer may leave them, for the real publisher `real`:
        /// any bytes in `@pub` and `@seq`, and well-formed ones naming `real` or another
        /// publisher with any number (2^53 included).
        fn stored_stamp(real: u64) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
            let number = prop_oneof![any::<u64>(), Just(1u64 << 53), 0u64..10_000];
            prop_oneof![
                (any::<Vec<u8>>(), any::<Vec<u8>>()),
                (Just(real), number.clone()).prop_map(|(p, s)| (
                    format!("{p:016x}").into_bytes(),
                    s.to_string().into_bytes()
                )),
                (any::<u64>(), number).prop_map(|(p, s)| (
                    format!("{p:016x}").into_bytes(),
                    s.to_string().into_bytes()
                )),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever stamp is stored, and whatever came before, the next run of a real
            /// publisher's messages is delivered: at most a window's worth of its numbers can
            /// be mistaken for duplicates once, never the rest of the run.
            #[test]
            fn no_stored_stamp_silences_a_publisher(
                (real, (publisher, seq)) in any::<u64>().prop_flat_map(|r| (Just(r), stored_stamp(r))),
                start in 1u64..1 << 40,
                before in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..8),
            ) {
                let outcome = std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let mut seen = Seen::default();
                        for (p, s) in before {
                            seen.accept(Some(Stamp { publisher: p, seq: s }));
                        }
                        let reply = redis::Value::Array(
                            [&b"@pub"[..], &publisher, b"@seq", &seq]
                                .iter()
                                .map(|b| redis::Value::BulkString(b.to_vec()))
                                .collect(),
                        );
                        // The stored value, read at start: parsed strictly, judged as a load.
                        let stored = frame::stamp_in(&reply);
                        if let Verdict::New { .. } = seen.judge(stored, Arrival::Load) {
                            seen.accept(stored);
                        }
                        let mut delivered = 0u64;
                        for n in start..start + 2 * WINDOW {
                            let stamp = Stamp { publisher: real, seq: n };
                            if let Verdict::New { .. } = seen.judge(Some(stamp), Arrival::Announced(stamp)) {
                                seen.accept(Some(stamp));
                                delivered += 1;
                            }
                        }
                        delivered
                    })
                    .unwrap()
                    .join()
                    .unwrap();
                prop_assert!(outcome >= WINDOW, "only {outcome} of {} delivered", 2 * WINDOW);
            }

            /// Any notification payload parses to a notification or an error, on a small stack.
            #[test]
            fn notifications_of_any_bytes_parse_or_are_refused(payload in any::<Vec<u8>>(), tail in any::<Vec<u8>>()) {
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        let mut framed = b"reem2 h 00000000000000aa 7\n".to_vec();
                        framed.extend_from_slice(&tail);
                        for bytes in [payload, framed] {
                            if let Ok(note) = frame::parse(&bytes) {
                                let _ = frame::inline_hash(note.body);
                            }
                        }
                    })
                    .unwrap()
                    .join()
                    .unwrap();
            }
        }
    }
}
