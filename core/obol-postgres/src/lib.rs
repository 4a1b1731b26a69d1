//! Store on postgres.
