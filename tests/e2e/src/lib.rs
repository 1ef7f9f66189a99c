//! Placeholder; filled by the control-plane work.
