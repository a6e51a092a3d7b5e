package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
)

// maxClassifyInput bounds what `outreach classify` reads of one file;
// classify itself examines at most its first few MiB.
const maxClassifyInput = 32 << 20

func (a *app) classifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "classify FILE...",
		Short: "Say what each email file is: human reply, auto-reply, bounce, delay, receipt, list...",
		Long: `Classify raw email files (RFC 5322, as saved by a mail client: .eml) without a
database or a server. For each file: the kind (human, auto_reply, bounce,
delay, receipt, complaint, list, notice), the reason, whether a bounce is
permanent, the return date of an out-of-office, the failed recipients, the
Message-IDs it refers to, the confidence and the evidence (the rules that
fired). "-" reads standard input.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, path := range args {
				if err := a.classifyFile(path); err != nil {
					fmt.Fprintf(a.stderr, "outreach: %s: %v\n", path, err)
					failed++
				}
			}
			if failed > 0 {
				return outreach.Errorf(outreach.KindInvalid, "%s could not be read", plural(failed, "file"))
			}
			return nil
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

// classified is one line of `outreach classify --json`.
type classified struct {
	File string `json:"file"`
	classify.Result
}

func (a *app) classifyFile(path string) error {
	var r io.Reader = a.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxClassifyInput))
	if err != nil {
		return err
	}
	res := classify.Classify(raw)
	if a.jsonOut {
		return a.printJSON(classified{File: path, Result: res})
	}
	return a.printClassified(path, res)
}

func (a *app) printClassified(path string, r classify.Result) error {
	line := fmt.Sprintf("%s: %s", path, r.Kind)
	if r.Reason != "" {
		line += " (" + r.Reason + ")"
	}
	if r.Kind == outreach.MessageBounce {
		line += map[bool]string{true: ", permanent", false: ", temporary"}[r.Permanent]
	}
	if r.ReturnDate != nil {
		line += ", back on " + r.ReturnDate.String()
	}
	if len(r.FailedRecipients) > 0 {
		line += ", failed: " + strings.Join(r.FailedRecipients, ", ")
	}
	if r.Status != "" {
		line += ", status " + r.Status
	}
	fmt.Fprintf(a.stdout, "%s [%s]\n", line, r.Confidence)
	for _, e := range r.Evidence {
		fmt.Fprintf(a.stdout, "    %s\n", e)
	}
	if len(r.RefersTo) > 0 {
		fmt.Fprintf(a.stdout, "    refers to: %s\n", strings.Join(r.RefersTo, ", "))
	}
	return nil
}
