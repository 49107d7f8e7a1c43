//! RFC 1035 master-file reader (to be written).
