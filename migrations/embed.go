// Package migrations holds the numbered, forward-only SQL migrations of the
// Outreach schema, embedded in the binary. The store applies them with goose;
// nothing here runs SQL itself.
package migrations

import "embed"

// FS holds every migration file, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
