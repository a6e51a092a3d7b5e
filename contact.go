package outreach

import (
	"strconv"
	"strings"
	"time"
)

// Contact is a person the applicant writes to. Identity is the person: a
// faculty member with a hospital, a university and a personal address is one
// contact with three addresses.
type Contact struct {
	ID            int64             `json:"id"`
	Email         string            `json:"email"`     // the primary address
	Addresses     []string          `json:"addresses"` // every address, the primary first
	FirstName     string            `json:"first_name"`
	LastName      string            `json:"last_name"`
	Title         string            `json:"title"`
	Institution   string            `json:"institution"`
	Timezone      string            `json:"timezone"`
	Notes         string            `json:"notes"`
	Extra         map[string]string `json:"extra"` // extra CSV columns: template variables
	BlockedAt     *time.Time        `json:"blocked_at"`
	BlockedReason string            `json:"blocked_reason,omitempty"`
	// Policy changes the [policy] section for this person only.
	Policy    PolicyOverride `json:"policy"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Blocked reports whether the contact is on the do-not-contact list.
func (c Contact) Blocked() bool { return c.BlockedAt != nil }

// Name is the contact's full name, or the primary address when none is known.
func (c Contact) Name() string {
	if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
		return n
	}
	return c.Email
}

// NormalizeAddress returns the form used to compare addresses: trimmed and
// lower-cased. RFC 5321 lets the local part be case-sensitive, but no
// provider a faculty member uses treats it so, and a duplicate contact is the
// worse failure.
func NormalizeAddress(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// ContactColumns are the CSV columns with a meaning of their own; any other
// column is kept in Contact.Extra and becomes a template variable.
var ContactColumns = []string{"email", "first_name", "last_name", "title", "institution",
	"timezone", "notes", "addresses"}

// ContactRow is one contact to create or update, and the line it came from.
type ContactRow struct {
	Line    int
	Contact Contact
}

// RowError says why one input line was refused.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Error formats the row error as "line N: reason".
func (e RowError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Reason }
