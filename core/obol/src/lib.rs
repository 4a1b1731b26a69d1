//! Obol.
