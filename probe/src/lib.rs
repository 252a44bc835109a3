//! Periscope's probe: the only part that reads the host.
