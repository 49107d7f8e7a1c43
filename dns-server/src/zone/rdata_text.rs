//! Presentation-format RDATA to wire format, per type (to be written).
