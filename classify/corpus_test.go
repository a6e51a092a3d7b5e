package classify

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	outreach "github.com/outreach/outreach"
)

// corpusEntry is one row of the shared corpus MANIFEST.tsv.
type corpusEntry struct {
	file, label, notes string
}

// corpusDir is the shared corpus: $OUTREACH_CORPUS or ../../shared/corpus.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("OUTREACH_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		t.Fatalf("corpus not found (set OUTREACH_CORPUS): %v", err)
	}
	return dir
}

// readManifest returns the manifest rows keyed by relative path.
func readManifest(t testing.TB, dir string) map[string]corpusEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	rows := map[string]corpusEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for first := true; sc.Scan(); first = false {
		cols := strings.Split(sc.Text(), "\t")
		if first || len(cols) < 6 {
			continue
		}
		rows[cols[0]] = corpusEntry{file: cols[0], label: cols[1], notes: cols[5]}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	return rows
}

// corpusFiles lists every .eml file under dir, relative to it.
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".eml") {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk corpus: %v", err)
	}
	return files
}

// expectation is what the corpus labels and notes make certain.
type expectation struct {
	kind     outreach.MessageKind // "" when the label fixes no kind
	reason   string               // "" when not asserted
	notHuman bool                 // for unsure rows whose note rules out a person
}

// expected maps a label and note to our kind, per the corpus README.
func expected(e corpusEntry) expectation {
	switch e.label {
	case "human_reply":
		return expectation{kind: outreach.MessageHuman}
	case "auto_reply":
		return expectation{kind: outreach.MessageAutoReply}
	case "bounce":
		if strings.Contains(e.notes, "DELAY") {
			return expectation{kind: outreach.MessageDelay}
		}
		return expectation{kind: outreach.MessageBounce}
	case "ticket_ack":
		return expectation{kind: outreach.MessageAutoReply, reason: ReasonChallenge}
	case "mailing_list":
		return expectation{kind: outreach.MessageList}
	case "other":
		return expectedOther(e.notes)
	}
	// unsure: a DSN-wrapped challenge and a no-reply tracker notification
	// are machine mail whatever else they are.
	return expectation{notHuman: strings.Contains(e.notes, "DSN") || strings.Contains(e.notes, "noreply@")}
}

func expectedOther(notes string) expectation {
	n := strings.ToLower(notes)
	switch {
	case strings.Contains(n, "read receipt") || strings.Contains(n, "mdn"):
		return expectation{kind: outreach.MessageReceipt}
	case strings.Contains(n, "arf") || strings.Contains(n, "complaint"):
		return expectation{kind: outreach.MessageComplaint}
	case strings.Contains(n, "success") || strings.Contains(n, "positive dsn"):
		return expectation{kind: outreach.MessageNotice}
	case strings.Contains(n, "human"):
		return expectation{kind: outreach.MessageHuman}
	}
	return expectation{}
}

// corpusOutcome is one classified corpus file.
type corpusOutcome struct {
	entry corpusEntry
	want  expectation
	got   Result
}

func classifyCorpus(t *testing.T) []corpusOutcome {
	dir := corpusDir(t)
	manifest := readManifest(t, dir)
	files := corpusFiles(t, dir)
	if len(files) != len(manifest) {
		t.Errorf("corpus has %d .eml files, manifest %d rows", len(files), len(manifest))
	}
	var out []corpusOutcome
	for _, rel := range files {
		e, ok := manifest[rel]
		if !ok {
			t.Errorf("%s is not in MANIFEST.tsv", rel)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatalf("read %s: %v", rel, err)
		}
		out = append(out, corpusOutcome{entry: e, want: expected(e), got: Classify(raw)})
	}
	return out
}

// TestCorpus classifies every corpus message and checks the product goals:
// every bounce and delay right, no machine mail called human, at least 95%
// correct overall.
func TestCorpus(t *testing.T) {
	outcomes := classifyCorpus(t)
	matrix := map[[2]outreach.MessageKind]int{}
	var misses []string
	scored, correct := 0, 0
	for _, o := range outcomes {
		checkInvariants(t, o.entry.file, o.got)
		if o.want.notHuman && o.got.Kind == outreach.MessageHuman {
			t.Errorf("%s: note rules out a person, got human (%v)", o.entry.file, o.got.Evidence)
		}
		if o.want.kind == "" {
			continue
		}
		scored++
		matrix[[2]outreach.MessageKind{o.want.kind, o.got.Kind}]++
		ok := o.got.Kind == o.want.kind && (o.want.reason == "" || o.got.Reason == o.want.reason)
		if ok {
			correct++
		} else {
			misses = append(misses, fmt.Sprintf("%s: want %s/%s, got %s/%s (%s): %s", o.entry.file, o.want.kind,
				o.want.reason, o.got.Kind, o.got.Reason, o.got.Confidence, strings.Join(o.got.Evidence, "; ")))
		}
		checkGoals(t, o)
	}
	t.Logf("confusion matrix (rows expected, columns got):\n%s", formatMatrix(matrix))
	t.Logf("accuracy: %d/%d = %.1f%%", correct, scored, 100*float64(correct)/float64(max(scored, 1)))
	for _, m := range misses {
		t.Logf("miss: %s", m)
	}
	if float64(correct) < 0.95*float64(scored) {
		t.Errorf("accuracy %d/%d is below 95%%", correct, scored)
	}
}

// checkGoals enforces the errors the product cannot afford.
func checkGoals(t *testing.T, o corpusOutcome) {
	t.Helper()
	want, got := o.want.kind, o.got.Kind
	if (want == outreach.MessageBounce || want == outreach.MessageDelay) && got != want {
		t.Errorf("%s: every bounce and delay must be right: want %s, got %s", o.entry.file, want, got)
	}
	if want != outreach.MessageHuman && got == outreach.MessageHuman {
		t.Errorf("%s: %s mail called human", o.entry.file, want)
	}
}

// formatMatrix renders expected x got counts as a text table.
func formatMatrix(m map[[2]outreach.MessageKind]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s", "want\\got")
	for _, k := range outreach.MessageKinds {
		fmt.Fprintf(&b, "%11s", k)
	}
	b.WriteString("\n")
	for _, want := range outreach.MessageKinds {
		fmt.Fprintf(&b, "%-11s", want)
		for _, got := range outreach.MessageKinds {
			fmt.Fprintf(&b, "%11d", m[[2]outreach.MessageKind{want, got}])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestCorpusDetails checks return dates, bounce details and references
// that the corpus notes state.
func TestCorpusDetails(t *testing.T) {
	dir := corpusDir(t)
	tests := []struct {
		file       string
		returnDate string // "" means not asserted
		reason     string
		permanent  *bool
		status     string
		recipients []string
		refersTo   []string
		newAddress string
	}{
		{file: "auto_reply/sisimai-rfc3834-01.eml", returnDate: "2005-05-05", reason: ReasonVacation},
		{file: "auto_reply/mdsbp-aol-vacation.eml", returnDate: "2010-07-06", reason: ReasonVacation},
		{file: "auto_reply/sisimai-rfc3834-03.eml", returnDate: "2020-01-11", reason: ReasonVacation,
			refersTo: []string{"25203A4E-F90F-4A14-BF51-3E7B9D39BE8E@libsisimai.org"}},
		{file: "auto_reply/sisimai-rfc3834-04.eml", returnDate: "2013-08-01", reason: ReasonVacation},
		{file: "auto_reply/sisimai-rfc3834-05.eml", reason: ReasonLeft, newAddress: "karl@hanz.de"},
		{file: "auto_reply/sisimai-rfc3834-06.eml", reason: ReasonLeft},
		{file: "bounce/flanker-zed.eml", reason: ReasonUserUnknown, permanent: ptr(true), status: "5.1.1"},
		{file: "bounce/flanker-mailbox-full.eml", reason: ReasonMailboxFull, permanent: ptr(false), status: "5.2.2",
			recipients: []string{"user@aol.com"}},
		{file: "bounce/flanker-gmail-invalid-address.eml", permanent: ptr(true),
			recipients: []string{"awfawfawfawfawfaw@someserverhere.com"}},
		{file: "bounce/mdsbp-spam-rejection.eml", reason: ReasonSpam, permanent: ptr(false), status: "5.7.1"},
		{file: "bounce/sisimai-lhost-postfix-06.eml", reason: ReasonHostUnknown, permanent: ptr(true)},
		{file: "bounce/sisimai-lhost-exim-06.eml", reason: ReasonExpired, permanent: ptr(false)},
		{file: "bounce/sisimai-lhost-amazonses-03.eml", reason: ReasonMailboxFull, permanent: ptr(false)},
		{file: "bounce/sisimai-lhost-exim-02.eml", permanent: ptr(true),
			recipients: []string{"kijitora@example.jp", "sabatora@example.jp"}},
		{file: "bounce/mailgem-multi_address_bounce1.eml", permanent: ptr(true), recipients: []string{
			"bbbbvhvbbvkjbhfbvbvjhb@gmail.com", "bscdbcjhasbcjhbdscbhbsdhcbj@gmail.com", "egyfefsdvsfvvhjsd@gmail.com",
			"kfhejkfbsjkjsbhds@gmail.com", "qfvhgsvhgsduiohncdhcvhsdfvsfygusd@gmail.com"}},
		{file: "bounce/mdsbp-quota.eml", reason: ReasonMailboxFull, permanent: ptr(false), recipients: []string{"a@b.c"}},
		{file: "bounce/flanker-no-mx.eml", permanent: ptr(false), status: "4.4.4"},
		{file: "bounce/sisimai-lhost-opensmtpd-01.eml", permanent: ptr(true),
			recipients: []string{"apdugoaidugoaidugoaeiudggadi@gmail.com"}},
		{file: "bounce/sisimai-rhost-gsuite-01.eml",
			refersTo: []string{"00222222-2222-2222-2222-FF00FFFF0000@example.jp"}},
		{file: "other/flanker-disposition-notification.eml", refersTo: []string{"199509192301.23456@example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := Classify(raw)
			if tc.returnDate != "" && (got.ReturnDate == nil || got.ReturnDate.String() != tc.returnDate) {
				t.Errorf("return date = %v, want %s (%v)", got.ReturnDate, tc.returnDate, got.Evidence)
			}
			if tc.reason != "" && got.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", got.Reason, tc.reason, got.Evidence)
			}
			if tc.permanent != nil && got.Permanent != *tc.permanent {
				t.Errorf("permanent = %t, want %t (%v)", got.Permanent, *tc.permanent, got.Evidence)
			}
			if tc.status != "" && got.Status != tc.status {
				t.Errorf("status = %q, want %q", got.Status, tc.status)
			}
			if tc.recipients != nil && !slices.Equal(got.FailedRecipients, tc.recipients) {
				t.Errorf("failed recipients = %q, want %q", got.FailedRecipients, tc.recipients)
			}
			if tc.refersTo != nil && !slices.Equal(got.RefersTo, tc.refersTo) {
				t.Errorf("refers_to = %q, want %q", got.RefersTo, tc.refersTo)
			}
			if got.NewAddress != tc.newAddress {
				t.Errorf("new address = %q, want %q", got.NewAddress, tc.newAddress)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// checkInvariants holds for every Result: valid kind and confidence,
// non-nil slices, lower-case recipients, no angle brackets in references.
func checkInvariants(t testing.TB, name string, r Result) {
	t.Helper()
	if !r.Kind.Valid() {
		t.Errorf("%s: invalid kind %q", name, r.Kind)
	}
	switch r.Confidence {
	case outreach.Certain, outreach.Likely, outreach.Unsure:
	default:
		t.Errorf("%s: invalid confidence %q", name, r.Confidence)
	}
	if r.FailedRecipients == nil || r.RefersTo == nil || r.Evidence == nil {
		t.Errorf("%s: nil slice in %+v", name, r)
	}
	if len(r.Evidence) == 0 {
		t.Errorf("%s: no evidence", name)
	}
	for _, a := range r.FailedRecipients {
		if a != strings.ToLower(a) || !strings.Contains(a, "@") {
			t.Errorf("%s: bad failed recipient %q", name, a)
		}
	}
	for _, id := range r.RefersTo {
		if id == "" || strings.ContainsAny(id, "<> ") {
			t.Errorf("%s: bad reference %q", name, id)
		}
	}
}
