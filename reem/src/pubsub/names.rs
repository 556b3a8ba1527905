//! The names a topic uses: its key, its channel, and the extra keys that must share its
//! Redis Cluster slot.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The channel of `topic` in database `db`: the topic itself in database 0, `@<db>:<topic>`
/// in another, as channels (unlike keys) are shared by all databases of a server. A topic of
/// database 0 that starts with `@` is also given the `@0:` prefix, so that no two (database,
/// topic) pairs share a channel: a channel starting with `@` always reads back as
/// `@<digits>:<topic>`.
///
/// On a Redis Cluster (`cluster`), always the topic itself: a cluster has only database 0,
/// and a sharded channel must hash to the slot of the topic's key, which it does only when it
/// is the same text (hash tag rules included).
pub(crate) fn channel(db: i64, topic: &str, cluster: bool) -> Cow<'_, str> {
    if cluster || (db == 0 && !topic.starts_with('@')) {
        Cow::Borrowed(topic)
    } else {
        Cow::Owned(format!("@{db}:{topic}"))
    }
}

/// The part of `key` Redis Cluster hashes to choose its slot: the text between the first `{`
/// and the first `}` after it when that is not empty (a hash tag), else the whole key.
pub(crate) fn hash_tag(key: &str) -> Option<&str> {
    // Cut between two ASCII braces: still UTF-8.
    std::str::from_utf8(crate::transport::cluster::hash_tag(key.as_bytes())?).ok()
}

/// A key for `topic`'s extra data (`suffix` starts with `@`), in the same cluster slot as
/// the topic's own key: `topic@suffix` when the topic has a hash tag (it is kept),
/// `{topic}@suffix` otherwise. A topic with braces but no hash tag (`a{b`, `x}`) hashes
/// whole and cannot be put in a tag: that is [`Error::Encode`] on a cluster, where it
/// matters, and `topic@suffix` on one server.
pub(crate) fn same_slot_key(topic: &str, suffix: &str, cluster: bool) -> Result<String> {
    if hash_tag(topic).is_some() || (!cluster && topic.contains(['{', '}'])) {
        Ok(format!("{topic}{suffix}"))
    } else if !topic.contains(['{', '}']) {
        Ok(format!("{{{topic}}}{suffix}"))
    } else {
        Err(Error::Encode {
            key: topic.to_owned(),
            field: String::new(),
            reason: format!(
                "on a Redis Cluster, the key {suffix:?} of this topic must share its slot, but a \
                 topic with braces and no hash tag cannot be tagged: rename it (e.g. {{{}}})",
                topic.replace(['{', '}'], "_")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_distinct_for_every_database_and_topic() {
        assert_eq!(channel(0, "robot/pose", false), "robot/pose");
        assert_eq!(channel(1, "foo", false), "@1:foo");
        assert_eq!(channel(0, "@1:foo", false), "@0:@1:foo");
        assert_ne!(channel(0, "@1:foo", false), channel(1, "foo", false));
        assert_ne!(channel(0, "@0:x", false), channel(0, "x", false));
        // A sharded channel is the topic: same slot.
        assert_eq!(channel(0, "@x", true), "@x");
        assert_eq!(channel(0, "{fleet}/pose", true), "{fleet}/pose");
    }

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(hash_tag("{user1000}.following"), Some("user1000"));
        assert_eq!(hash_tag("foo{}{bar}"), None);
        assert_eq!(hash_tag("foo{{bar}}zap"), Some("{bar"));
        assert_eq!(hash_tag("foo{bar}{zap}"), Some("bar"));
        assert_eq!(hash_tag("robot/pose"), None);
    }

    #[test]
    fn extra_keys_share_the_topics_tag() {
        assert_eq!(
            same_slot_key("robot/pose", "@seq", true).unwrap(),
            "{robot/pose}@seq"
        );
        assert_eq!(
            same_slot_key("{fleet}/pose", "@seq", true).unwrap(),
            "{fleet}/pose@seq"
        );
        assert!(same_slot_key("a}b", "@seq", true).is_err());
        assert_eq!(same_slot_key("a}b", "@seq", false).unwrap(), "a}b@seq");
    }
}
