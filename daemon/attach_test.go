package daemon

import (
	"context"
	"os"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// storedMail stores messages as a sync pass would, each with a skeleton.
func storedMail(t *testing.T, st *store.Store, mailbox int64, msgs ...outreach.Message) {
	t.Helper()
	for i := range msgs {
		msgs[i].Raw = []byte("Subject: x\r\n\r\nbody")
		if msgs[i].Direction == "" {
			msgs[i].Direction = outreach.Inbound
		}
	}
	var highest uint32
	for _, m := range msgs {
		highest = max(highest, m.UID)
	}
	if _, err := st.SaveSyncBatch(context.Background(), store.SyncBatch{MailboxID: mailbox, Messages: msgs,
		Cursor: store.Cursor{UIDValidity: 1, HighestUID: highest}}); err != nil {
		t.Fatal(err)
	}
}

func TestAttachPendingBuildsThreads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t, nil)
	acct, _ := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "me@example.org", Timezone: "UTC"})
	inbox, _ := st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	sent, _ := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "addresses"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: "chen@med.example.edu",
			Addresses: []string{"chen@med.example.edu", "mei@gmail.example"}}}}}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	storedMail(t, st, sent.ID, outreach.Message{UID: 1, MessageID: "first@example.org", From: "me@example.org",
		To: []string{"chen@med.example.edu"}, Subject: "Research opportunity", Date: day, Direction: outreach.Outbound})
	storedMail(t, st, inbox.ID,
		outreach.Message{UID: 1, MessageID: "coord@med.example.edu", From: "office@med.example.edu", To: []string{"me@example.org"},
			Subject: "RE: Research opportunity", Date: day.Add(48 * time.Hour), InReplyTo: []string{"first@example.org"},
			Kind: outreach.MessageHuman, Classification: []byte(`{"kind":"human","refers_to":["first@example.org"]}`)},
		outreach.Message{UID: 2, MessageID: "personal@gmail.example", From: "mei@gmail.example", To: []string{"me@example.org"},
			Subject: "hello", Date: day.Add(72 * time.Hour), Kind: outreach.MessageHuman, Classification: []byte(`{"kind":"human"}`)},
		outreach.Message{UID: 3, MessageID: "news@list.example", From: "news@list.example", To: []string{"me@example.org"},
			Subject: "Newsletter", Date: day, Kind: outreach.MessageList, Classification: []byte(`{"kind":"list"}`)})

	n, err := AttachPending(ctx, st)
	if err != nil || n != 4 {
		t.Fatalf("attached %d (%v), want 4", n, err)
	}
	var rows []struct {
		MessageID string `db:"message_id"`
		ThreadID  *int64 `db:"thread_id"`
		Rule      string `db:"thread_rule"`
	}
	if err := st.DB().Select(&rows, `SELECT message_id, thread_id, thread_rule FROM messages ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"first@example.org": "own_touch", "coord@med.example.edu": "refers_to",
		"personal@gmail.example": "contact_address", "news@list.example": "none"}
	var thread int64
	for _, r := range rows {
		if r.Rule != want[r.MessageID] {
			t.Errorf("%s attached by %q, want %q", r.MessageID, r.Rule, want[r.MessageID])
		}
		if r.MessageID == "first@example.org" && r.ThreadID != nil {
			thread = *r.ThreadID
		}
		if r.MessageID != "news@list.example" && (r.ThreadID == nil || *r.ThreadID != thread) {
			t.Errorf("%s in thread %v, want %d", r.MessageID, r.ThreadID, thread)
		}
	}
	var related string
	if err := st.DB().Get(&related, `SELECT address FROM contact_related_addresses`); err != nil || related != "office@med.example.edu" {
		t.Errorf("related address %q (%v), want the coordinator's", related, err)
	}
	if n, err := AttachPending(ctx, st); err != nil || n != 0 {
		t.Errorf("second run attached %d (%v), want 0", n, err)
	}
}
