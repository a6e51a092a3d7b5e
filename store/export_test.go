package store

// KnownMessageIDsSQL is the query of KnownMessageIDs, for a test of its plan.
const KnownMessageIDsSQL = knownMessageIDsSQL
