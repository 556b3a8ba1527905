//! Stored field names, built segment by segment as encodings nest.
//!
//! A struct field `x` inside a field `base` is stored as `base.x`; element 2 of a list
//! `waypoints` as `waypoints.2`. A value stored at the root of a message (a top-level `f64`,
//! say) has no name of its own and is stored in the field `value`.

/// The name of the field a top-level scalar is stored in.
pub const ROOT_LEAF: &str = "value";

/// The separator between the segments of a stored field name.
pub const SEPARATOR: char = '.';

/// A stored field name under construction: one reusable buffer, so building `base.x` for
/// every field of every write allocates nothing after the first message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath {
    buf: String,
}

/// Where a [`FieldPath`] stood before [`FieldPath::enter`]; give it back to
/// [`FieldPath::leave`].
#[derive(Debug, Clone, Copy)]
#[must_use = "give the mark back to `leave`"]
pub struct Mark(usize);

impl FieldPath {
    /// The root: the message itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// A path starting at `prefix` (`""` is the root).
    pub fn at(prefix: &str) -> Self {
        Self {
            buf: prefix.to_owned(),
        }
    }

    /// True at the root of the message.
    pub fn is_root(&self) -> bool {
        self.buf.is_empty()
    }

    /// The path as written so far (`""` at the root).
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// The name of the field a scalar at this path is stored in: the path itself, or
    /// [`ROOT_LEAF`] at the root.
    pub fn leaf(&self) -> &str {
        if self.buf.is_empty() {
            ROOT_LEAF
        } else {
            &self.buf
        }
    }

    /// Descends into `segment`.
    pub fn enter(&mut self, segment: &str) -> Mark {
        let mark = Mark(self.buf.len());
        if !self.buf.is_empty() {
            self.buf.push(SEPARATOR);
        }
        self.buf.push_str(segment);
        mark
    }

    /// Descends into list element `index`.
    pub fn enter_index(&mut self, index: usize) -> Mark {
        self.enter(itoa::Buffer::new().format(index))
    }

    /// Returns to where `mark` was taken.
    pub fn leave(&mut self, mark: Mark) {
        self.buf.truncate(mark.0);
    }

    /// The full name of `segment` below this path, without descending.
    pub fn child(&self, segment: &str) -> String {
        if self.buf.is_empty() {
            segment.to_owned()
        } else {
            format!("{}{SEPARATOR}{segment}", self.buf)
        }
    }
}

/// The `enter`, `enter_index` and `leave` methods of a type that walks stored names with a
/// [`FieldPath`] in its field `$path` (the schema builder, the field writer and reader):
/// written once here.
macro_rules! walks_paths {
    ($path:ident) => {
        /// Descends into `segment` (a struct field's stored name).
        pub fn enter(&mut self, segment: &str) -> $crate::schema::Mark {
            self.$path.enter(segment)
        }

        /// Descends into list element `index`.
        pub fn enter_index(&mut self, index: usize) -> $crate::schema::Mark {
            self.$path.enter_index(index)
        }

        /// Returns to `mark`.
        pub fn leave(&mut self, mark: $crate::schema::Mark) {
            self.$path.leave(mark)
        }
    };
}

pub(crate) use walks_paths;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_names_join_with_dots_and_unwind() {
        let mut p = FieldPath::root();
        assert_eq!(p.leaf(), "value");
        let a = p.enter("base");
        let b = p.enter("x");
        assert_eq!(p.leaf(), "base.x");
        p.leave(b);
        let c = p.enter_index(12);
        assert_eq!(p.as_str(), "base.12");
        p.leave(c);
        p.leave(a);
        assert!(p.is_root());
        assert_eq!(p.child("arr"), "arr");
        assert_eq!(FieldPath::at("image").child("arr"), "image.arr");
    }
}
