package classify

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	outreach "github.com/outreach/outreach"
)

// seedMessages returns the corpus and testdata messages.
func seedMessages(tb testing.TB) [][]byte {
	tb.Helper()
	dir := corpusDir(tb)
	var msgs [][]byte
	for _, rel := range corpusFiles(tb, dir) {
		msgs = append(msgs, mustRead(tb, filepath.Join(dir, rel)))
	}
	local, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range local {
		msgs = append(msgs, mustRead(tb, p))
	}
	return msgs
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return b
}

// FuzzClassify checks that no input panics and every Result keeps its
// invariants.
func FuzzClassify(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkInvariants(t, "fuzz input", Classify(raw))
	})
}

// TestPathological feeds 5 MB inputs built to defeat naive parsers: deep
// nesting, a huge header, thousands of parts, endless lines. The bounds
// must hold and the result must be well formed.
func TestPathological(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
	}{
		{"deep nesting", deepNesting(20000)},
		{"huge header", hugeHeader(5 << 20)},
		{"many parts", manyParts(60000)},
		{"one endless line", bytes.Repeat([]byte("a"), 5<<20)},
		{"many boundary-like lines", bytes.Repeat([]byte("--x\n"), 5<<20/4)},
		{"nul bytes", make([]byte, 5<<20)},
		{"many dates", []byte("Date: Mon, 2 Jun 2025 10:00:00 +0000\nAuto-Submitted: auto-replied\n\n" +
			strings.Repeat("back on 5/6 until May 7-9 bis 10.11. ", 150000))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.raw) < 4<<20 {
				t.Fatalf("input is only %d bytes", len(tc.raw))
			}
			r := Classify(tc.raw)
			checkInvariants(t, tc.name, r)
			m := parseMessage(tc.raw)
			if len(m.parts) > maxParts || len(m.header) > maxFields {
				t.Errorf("bounds broken: %d parts, %d fields", len(m.parts), len(m.header))
			}
			for _, p := range m.parts {
				if len(p.text) > 4*maxPartText { // Windows-1252 can widen bytes
					t.Errorf("part text %d bytes exceeds the bound", len(p.text))
				}
			}
		})
	}
}

func deepNesting(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("From: x@example.org\nSubject: nest\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n", i, i+1)
	}
	for b.Len() < 5<<20 {
		b.WriteString("filler text line for the innermost part\n")
	}
	return b.Bytes()
}

func hugeHeader(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\n\t%s\n", i, strings.Repeat("v", 200), strings.Repeat("w", 200))
	}
	b.WriteString("\nbody\n")
	return b.Bytes()
}

func manyParts(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@example.org\nSubject: Undeliverable\nContent-Type: multipart/report; boundary=\"p\"\n\n")
	for i := 0; i < n; i++ {
		b.WriteString("--p\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n")
	}
	return b.Bytes()
}

// TestClassifyCorpusIsDeterministic: the same bytes give the same Result.
func TestClassifyCorpusIsDeterministic(t *testing.T) {
	for i, m := range seedMessages(t) {
		a, b := Classify(m), Classify(m)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("message %d: %v != %v", i, a, b)
		}
		if a.Kind == outreach.MessageHuman && a.Status != "" {
			t.Errorf("message %d: a human reply with a delivery status %q", i, a.Status)
		}
	}
}

// BenchmarkClassifyCorpus reports messages per second over the corpus and
// testdata, with a bare net/mail parse of the same messages as baseline.
func BenchmarkClassifyCorpus(b *testing.B) {
	msgs := seedMessages(b)
	b.Run("classify", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				Classify(m)
			}
		}
		b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("netmail-baseline", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				if msg, err := mail.ReadMessage(bytes.NewReader(m)); err == nil {
					_, _ = io.Copy(io.Discard, msg.Body)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
	})
}
