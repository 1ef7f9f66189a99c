pub use gitseal_crds as crds;
