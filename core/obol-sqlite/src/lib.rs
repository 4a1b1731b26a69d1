//! Store on sqlite.
