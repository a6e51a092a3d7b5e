package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClassifyCommandPrintsOneObjectPerFile(t *testing.T) {
	t.Parallel()
	corpus := "../../../shared/corpus/"
	files := []string{corpus + "bounce/flanker-zed.eml", corpus + "auto_reply/sisimai-rfc3834-03.eml", "/nonexistent.eml"}
	r := cli(t, map[string]string{}, "", append([]string{"classify", "--json"}, files...)...)
	if r.code != exitInvalid || !strings.Contains(r.stderr, "/nonexistent.eml") {
		t.Fatalf("exit %d, stderr %q: want exit %d naming the missing file", r.code, r.stderr, exitInvalid)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per readable file:\n%s", len(lines), r.stdout)
	}
	var bounce, ooo struct {
		File       string   `json:"file"`
		Kind       string   `json:"kind"`
		Permanent  bool     `json:"permanent"`
		ReturnDate *string  `json:"return_date"`
		Failed     []string `json:"failed_recipients"`
		RefersTo   []string `json:"refers_to"`
		Confidence string   `json:"confidence"`
		Evidence   []string `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &bounce); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &ooo); err != nil {
		t.Fatal(err)
	}
	if bounce.Kind != "bounce" || !bounce.Permanent || len(bounce.Failed) != 1 || bounce.ReturnDate != nil || len(bounce.Evidence) == 0 {
		t.Errorf("bounce: %+v", bounce)
	}
	if ooo.Kind != "auto_reply" || ooo.ReturnDate == nil || *ooo.ReturnDate != "2020-01-11" || ooo.Confidence != "certain" {
		t.Errorf("out-of-office: %+v", ooo)
	}
}

func TestClassifyReadsStandardInput(t *testing.T) {
	t.Parallel()
	msg := "From: Prof <prof@example.edu>\r\nTo: me@example.org\r\nSubject: Re: research\r\nIn-Reply-To: <abc@example.org>\r\n\r\nHappy to talk next week.\r\n"
	r := cli(t, map[string]string{}, msg, "classify", "-")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "-: human") || !strings.Contains(r.stdout, "refers to: abc@example.org") {
		t.Fatalf("%+v", r)
	}
}
