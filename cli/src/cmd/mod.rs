//! One module per command; each is glue between `crate::io` and the core library.

pub mod convert;
pub mod edit;
pub mod fetch_key;
pub mod init;
pub mod inspect;
pub mod keygen;
pub mod keys;
pub mod migrate;
pub mod reseal;
pub mod rotate;
pub mod seal;
pub mod unseal;
pub mod updatekeys;
pub mod verify;
