package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/store"
)

const (
	applicant = "applicant@example.org"
	professor = "chen@med.example.edu"
)

// newAccount records the account and a contact, and returns the daemon's view.
func newAccount(t testing.TB, st *store.Store, host string, port int) Account {
	t.Helper()
	ctx := context.Background()
	id, err := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: applicant, Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: professor, Addresses: []string{professor}}}}}); err != nil {
		t.Fatal(err)
	}
	return Account{ID: id, Name: "main", Email: applicant, IMAP: imapsync.Account{Host: host, Port: port,
		Security: "none", Username: dovecot.User, Password: dovecot.Password}}
}

// mail builds a small RFC 5322 message.
func mail(from, to, subject, msgID string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n",
		from, to, subject, msgID)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThank you for your email.\r\n")
	return []byte(b.String())
}

// replies makes n replies from the professor to our message orig.
func replies(n int, prefix string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = mail(professor, applicant, "Re: Research opportunity", fmt.Sprintf("%s-%d@med.example.edu", prefix, i),
			"In-Reply-To: <orig@example.org>")
	}
	return out
}

func rowCount(t *testing.T, st *store.Store, where string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, `SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE `+where, args...); err != nil {
		t.Fatal(err)
	}
	return n
}
