package imapsync

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/internal/dovecot"
)

// TestDovecotSkeletonsClassifyLikeTheWholeMessage: every message of the
// labelled corpus (replies, auto-replies, bounces, lists, tickets), synced
// from Dovecot with phase 2, classifies from its skeleton exactly as from
// the whole message: kind, reason, return date, failed recipients, status
// and the Message-IDs it refers to. The skeleton is what is stored and
// reclassified; this is what it must not lose.
func TestDovecotSkeletonsClassifyLikeTheWholeMessage(t *testing.T) {
	files, err := filepath.Glob("../../shared/corpus/*/*.eml")
	if err != nil || len(files) < 100 {
		t.Fatalf("corpus: %d files (%v)", len(files), err)
	}
	srv := dovecot.ForTest(t)
	whole := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		whole[i] = asStored(b)
	}
	if err := srv.Deliver("INBOX", whole...); err != nil {
		t.Fatal(err)
	}
	// Which file a message came from, by its header (phase 2 fetches it
	// whole): the server need not number the files in delivery order.
	headerOf := func(b []byte) string { // up to the first empty line
		h, _, _ := bytes.Cut(append([]byte("\r\n"), b...), []byte("\r\n\r\n"))
		return string(h)
	}
	byHeader := make(map[string]int, len(whole))
	for i, b := range whole {
		byHeader[headerOf(b)] = i
	}
	c := dialDovecot(t, srv.Host, srv.Port)
	for _, m := range syncAllRelevant(t, c, len(files)) {
		i, ok := byHeader[headerOf(m.Header)]
		if !ok {
			t.Errorf("UID %d: header matches no corpus file:\n%s", m.UID, m.Header)
			continue
		}
		name := filepath.Join(filepath.Base(filepath.Dir(files[i])), filepath.Base(files[i]))
		if m.Raw == nil {
			t.Errorf("%s: no skeleton (%s)", name, m.ParseError)
			continue
		}
		if got, want := essentials(classify.Classify(m.Raw)), essentials(classify.Classify(whole[i])); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: from the skeleton %+v,\nfrom the whole message %+v", name, got, want)
		}
	}
}

// essentials is what Outreach acts on in a classification (the evidence
// wording may differ: a skeleton has no attachment to mention).
func essentials(r classify.Result) string {
	date := "none"
	if r.ReturnDate != nil {
		date = fmt.Sprint(*r.ReturnDate)
	}
	return fmt.Sprintf("kind=%s reason=%s permanent=%v return=%s failed=%v status=%s refers=%v new=%s",
		r.Kind, r.Reason, r.Permanent, date, r.FailedRecipients, r.Status, r.RefersTo, r.NewAddress)
}
