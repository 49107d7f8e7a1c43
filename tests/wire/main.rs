//! Over-the-wire tests of the dns-server binary.
