package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lib/pq"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// TestKnownMessageIDs: a Message-ID is known when it is stored with a
// skeleton, ours or not; a message stored with its headers only is not,
// ours included (the applicant's email to someone who is not a contact),
// nor is the empty id; duplicates and invalid UTF-8 in the list are
// harmless.
func TestKnownMessageIDs(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	msgs := syncMsgs(1, 5, "k")
	skeleton := []byte("Subject: Re: research\r\n\r\nthe text\r\n")
	msgs[1].Raw = skeleton                                       // k2: with its skeleton
	msgs[2].Direction, msgs[2].Raw = outreach.Outbound, skeleton // k3: ours, with its skeleton
	msgs[3].Direction = outreach.Outbound                        // k4: ours, headers only
	msgs[4].MessageID = ""                                       // refers to nothing
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: msgs,
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: 5}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.KnownMessageIDs(ctx, []string{"k1@example.edu", "k2@example.edu", "k2@example.edu",
		"k3@example.edu", "k4@example.edu", "", "nowhere@example.edu", "k\xff@example.edu"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"k2@example.edu": true, "k3@example.edu": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("known = %v, want %v", got, want)
	}
}

// TestKnownMessageIDsUseTheIndexBeforeAnalyze: during a first sync the
// messages table grows by thousands of rows before it is ever analyzed, and
// each batch asks about hundreds of Message-IDs. The look-up must still go
// through the index: without statistics, "message_id = ANY($1)" with a long
// list was planned as a scan of the whole table, once per batch.
func TestKnownMessageIDsUseTheIndexBeforeAnalyze(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	mb := newMailbox(t, st)
	const n = 5000
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: mb.ID, Messages: syncMsgs(1, n, "a"),
		Cursor: store.Cursor{UIDValidity: 7, HighestUID: n}}); err != nil {
		t.Fatal(err)
	}
	var analyzed bool
	if err := st.DB().Get(&analyzed, `SELECT reltuples >= 0 FROM pg_class WHERE oid = 'messages'::regclass`); err != nil {
		t.Fatal(err)
	}
	if analyzed {
		t.Skip("messages was analyzed already: this test is about the plan without statistics")
	}
	ids := make([]string, 400)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%d@example.edu", i)
	}
	var plan []byte
	if err := st.DB().Get(&plan, `EXPLAIN (FORMAT JSON) `+store.KnownMessageIDsSQL, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	if err := json.Unmarshal(plan, &nodes); err != nil {
		t.Fatal(err)
	}
	if seqScan(nodes[0]["Plan"], "messages") {
		t.Errorf("the plan reads the whole messages table:\n%s", plan)
	}
	if !strings.Contains(string(plan), `"messages_message_id"`) {
		t.Errorf("the plan does not use messages_message_id:\n%s", plan)
	}
}

// seqScan reports whether a plan (EXPLAIN's JSON) reads the relation
// sequentially.
func seqScan(node any, relation string) bool {
	m, _ := node.(map[string]any)
	if m["Node Type"] == "Seq Scan" && m["Relation Name"] == relation {
		return true
	}
	children, _ := m["Plans"].([]any)
	for _, c := range children {
		if seqScan(c, relation) {
			return true
		}
	}
	return false
}
