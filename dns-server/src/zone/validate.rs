//! Checks a zone's records before it may be served (to be written).
