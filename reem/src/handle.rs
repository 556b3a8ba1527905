//! [`FieldHandle`]: a typed name for one field of a message, to read or write it alone.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The typed handles on a message type's stored fields: `Robot::fields().base()`.
///
/// `#[derive(ReemMarshal)]` implements it for every struct; its [`Handles`](Fields::Handles)
/// type has one method per stored field, returning a [`FieldHandle`]. It is a trait (import
/// `reem::Fields`), so it never clashes with a method of your own named `fields`.
pub trait Fields {
    /// The handles: one method per stored field.
    type Handles;

    /// The handles on this type's stored fields.
    fn fields() -> Self::Handles;
}

/// Names the field at `path` of message type `R`, holding a `T`.
///
/// `#[derive(ReemMarshal)]` gives every struct the [`Fields`] trait, whose handles have one
/// method per stored field, so the path and the type are checked by the compiler:
///
/// ```
/// # use reem::{FieldHandle, Fields, ReemMarshal};
/// #[derive(ReemMarshal)]
/// struct Pose2 { x: f64, y: f64, theta: f64 }
/// #[derive(ReemMarshal)]
/// struct Robot { name: String, #[reem(rename = "pose")] base: Pose2 }
///
/// let x: FieldHandle<Robot, f64> = Robot::fields().base().then(Pose2::fields().x());
/// assert_eq!(x.path(), "pose.x");
/// ```
pub struct FieldHandle<R, T> {
    path: Cow<'static, str>,
    _types: PhantomData<fn() -> (R, T)>,
}

impl<R, T> FieldHandle<R, T> {
    /// A handle on the stored field (or group of fields) `path`. Nothing checks that `R`
    /// stores a `T` there: prefer the handles of `R::fields()`.
    pub const fn new(path: &'static str) -> Self {
        Self {
            path: Cow::Borrowed(path),
            _types: PhantomData,
        }
    }

    /// A handle on a path built at run time (see [`FieldHandle::new`]).
    pub fn from_path(path: impl Into<String>) -> Self {
        Self {
            path: Cow::Owned(path.into()),
            _types: PhantomData,
        }
    }

    /// The stored name (`base.x`); fields of arrays and nested structs live below it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The handle on `inner`, a field of this field's struct: `frame.base().then(Pose2::fields().x())`.
    pub fn then<U>(&self, inner: FieldHandle<T, U>) -> FieldHandle<R, U> {
        FieldHandle::from_path(format!(
            "{}{}{}",
            self.path,
            crate::schema::SEPARATOR,
            inner.path
        ))
    }
}

impl<R, T> Clone for FieldHandle<R, T> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            _types: PhantomData,
        }
    }
}

impl<R, T> fmt::Debug for FieldHandle<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldHandle({:?})", self.path)
    }
}
