//! The one set of error classes shared by the whole tree. A class becomes an HTTP status only in
//! berth-api and an exit code only in the binaries.

use std::fmt;

/// What kind of failure an error is, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The named object (container, image, file) does not exist.
    NotFound,
    /// An object with that name or id exists already.
    AlreadyExists,
    /// The object is in a state that forbids the operation (e.g. deleting a running container).
    Conflict,
    /// The caller's input is malformed.
    InvalidArgument,
    /// The system is not in a state that allows the operation (missing kernel feature, setup step).
    FailedPrecondition,
    /// A resource is temporarily unavailable; retrying may succeed.
    Unavailable,
    /// The caller lacks a permission.
    PermissionDenied,
    /// A bug or an unexpected system failure.
    Internal,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorClass::NotFound => "not found",
            ErrorClass::AlreadyExists => "already exists",
            ErrorClass::Conflict => "conflict",
            ErrorClass::InvalidArgument => "invalid argument",
            ErrorClass::FailedPrecondition => "failed precondition",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::PermissionDenied => "permission denied",
            ErrorClass::Internal => "internal",
        };
        f.write_str(name)
    }
}

/// Implemented by every crate's error type so that callers can act on the class of a failure.
pub trait Classify {
    /// The class of this error.
    fn class(&self) -> ErrorClass;
}

/// Classifies an OS error number: the fallback for errors that wrap an `errno`.
pub fn class_of_errno(errno: i32) -> ErrorClass {
    match errno {
        libc_consts::ENOENT | libc_consts::ESRCH => ErrorClass::NotFound,
        libc_consts::EEXIST => ErrorClass::AlreadyExists,
        libc_consts::EBUSY => ErrorClass::Conflict,
        libc_consts::EINVAL => ErrorClass::InvalidArgument,
        libc_consts::EPERM | libc_consts::EACCES => ErrorClass::PermissionDenied,
        libc_consts::EAGAIN | libc_consts::ENOSPC | libc_consts::ENOMEM => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// The handful of errno values used above, so this crate needs no libc dependency.
mod libc_consts {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        assert_eq!(class_of_errno(2), ErrorClass::NotFound);
        assert_eq!(class_of_errno(17), ErrorClass::AlreadyExists);
        assert_eq!(class_of_errno(1), ErrorClass::PermissionDenied);
        assert_eq!(class_of_errno(5), ErrorClass::Internal);
    }
}
