package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

// One headless Chromium serves every browser test of the binary; each test
// gets its own browser context (its own cookies) in it.
var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel context.CancelFunc
	browserErr    error
)

// chromiumPath finds Debian's chromium (or another Chrome).
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts Chromium once; root needs --no-sandbox.
func startBrowser() {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath()),
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	browserCtx, browserCancel = ctx, func() { cancel(); cancelAlloc() }
	// The first Do starts the browser and binds it to ctx, which has no
	// deadline; each test's steps have their own.
	browserErr = chromedp.Do(ctx)
}

func stopBrowser() {
	if browserCancel != nil {
		browserCancel()
	}
}

// newTab opens a tab with cookies of its own. Browser tests skip only when
// no Chromium is installed and scripts/test did not say it installed one
// (OUTREACH_BROWSER_TESTS=required): in CI they always run.
func newTab(t *testing.T) context.Context {
	t.Helper()
	if chromiumPath() == "" {
		if os.Getenv("OUTREACH_BROWSER_TESTS") == "required" {
			t.Fatal("chromium is not installed, and scripts/test requires the browser tests")
		}
		t.Skip("chromium is not installed: apt-get install -y chromium (scripts/test installs it)")
	}
	browserOnce.Do(startBrowser)
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	tab, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// within runs browser steps with a deadline: every wait below is on a
// condition of the page, never on a sleep.
func within(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// submit clicks a form's button and returns the status of the page the
// browser ends on (after any redirect).
func submit(t *testing.T, tab context.Context, button string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("click %s: %v", button, err)
	}
	return resp.Status
}

// text reads an element's text once it is there.
func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func wantText(t *testing.T, tab context.Context, sel string, wants ...string) {
	t.Helper()
	got := text(t, tab, sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s says %q, want %q", sel, got, w)
		}
	}
}

// The approval queue in a real browser: log in, approve, edit then
// approve, and the refusals: a stale page, a form without its CSRF token,
// a request after the session is gone.
func TestBrowserApprovalQueue(t *testing.T) {
	f := newFixture(t, false)
	tab := newTab(t)
	base := f.ts.URL
	chen, souza, mueller := f.drafts["Chen"], f.drafts["Souza"], f.drafts["Müller"]

	t.Run("unauthenticated request goes to the login", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(fmt.Sprintf("%s/drafts/%d", base, chen)),
			chromedp.WaitVisible(chromedp.CSS(`body[data-page="login"] #secret`)))
		loc, err := chromedp.Run(tab, chromedp.Location())
		if err != nil || !strings.Contains(loc, "/login?next=") {
			t.Fatalf("at %q (%v), want the login page", loc, err)
		}
	})

	t.Run("log in", func(t *testing.T) {
		within(t, tab, chromedp.SendKeys(chromedp.CSS("#secret"), "wrong password"))
		if status := submit(t, tab, `button[type="submit"].primary`); status != 401 {
			t.Errorf("a wrong password: status %d", status)
		}
		wantText(t, tab, "#login-error", "not right")
		within(t, tab, chromedp.SendKeys(chromedp.CSS("#secret"), testPassword))
		if status := submit(t, tab, `button[type="submit"].primary`); status != 200 {
			t.Fatalf("login: status %d", status)
		}
		// The login returns to the page that was asked for.
		wantText(t, tab, `body[data-page="draft"] h1`, "Follow-up to Wei Chen")
	})

	t.Run("approve a draft", func(t *testing.T) {
		wantText(t, tab, "#email", "To: chen@med.example.edu", "Subject: Re: Research opportunity in your lab")
		if why := text(t, tab, "#why"); why == "" || strings.Contains(why, "no reason") {
			t.Errorf("why it was proposed: %q", why)
		}
		if status := submit(t, tab, "#approve"); status != 200 {
			t.Fatalf("approve: status %d", status)
		}
		wantText(t, tab, `body[data-page="today"] #flash`, "Approved version 1 of the follow-up to Wei Chen")
		if d := f.draft(t, chen); d.State != outreach.DraftApproved || *d.ApprovedVersion != 1 {
			t.Errorf("draft after approval: %s", d.State)
		}
	})

	t.Run("edit then approve", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(fmt.Sprintf("%s/drafts/%d", base, souza)),
			chromedp.WaitVisible(chromedp.CSS("#body")),
			// Replace the text, then type the signature as a person would.
			chromedp.SetValue(chromedp.CSS("#body"), "Dear Professor Souza,\n\nA brief follow-up on my email of last week.\n\n"),
			chromedp.SendKeys(chromedp.CSS("#body"), "Amaka"))
		if status := submit(t, tab, "#save"); status != 200 {
			t.Fatalf("save: status %d", status)
		}
		wantText(t, tab, "#flash", "Saved as version 2")
		wantText(t, tab, "#email", "A brief follow-up on my email of last week.")
		if status := submit(t, tab, "#approve"); status != 200 {
			t.Fatalf("approve: status %d", status)
		}
		wantText(t, tab, `body[data-page="today"] #flash`, "Approved version 2")
		d := f.draft(t, souza)
		if d.State != outreach.DraftApproved || *d.ApprovedVersion != 2 || !strings.Contains(d.Body, "A brief follow-up") {
			t.Errorf("draft after edit and approval: %s v%d %q", d.State, d.Version, d.Body)
		}
	})

	t.Run("a stale approval is refused", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(fmt.Sprintf("%s/drafts/%d", base, mueller)),
			chromedp.WaitVisible(chromedp.CSS(`#draft-state[data-version="1"]`)))
		// Someone edits the draft while this page is open.
		if _, err := f.st.EditDraft(context.Background(), mueller, 1, store.DraftEdit{Subject: "Re: Observership"}); err != nil {
			t.Fatal(err)
		}
		if status := submit(t, tab, "#approve"); status != 409 {
			t.Errorf("stale approval: status %d, want 409", status)
		}
		wantText(t, tab, "#problem", "Not approved", "changed since")
		wantText(t, tab, "#email", "Subject: Re: Observership")
		if d := f.draft(t, mueller); d.State != outreach.DraftProposed || d.Version != 2 {
			t.Errorf("draft after a stale approval: %s v%d", d.State, d.Version)
		}
	})

	t.Run("a post without its CSRF token is refused", func(t *testing.T) {
		within(t, tab, chromedp.WaitVisible(chromedp.CSS(`#draft-state[data-version="2"]`)),
			// The form now posts no csrf field, as a forged one would.
			chromedp.SetAttributeValue(chromedp.CSS(`#approve-form input[name="csrf"]`), "name", "not-csrf"))
		if status := submit(t, tab, "#approve"); status != 403 {
			t.Errorf("no CSRF token: status %d, want 403", status)
		}
		wantText(t, tab, `body[data-page="error"] .problem`, "did not come from this page")
		if d := f.draft(t, mueller); d.State != outreach.DraftProposed {
			t.Errorf("draft after a forged approval: %s", d.State)
		}
	})

	t.Run("a post after the session is gone is refused", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(fmt.Sprintf("%s/drafts/%d", base, mueller)),
			chromedp.WaitVisible(chromedp.CSS("#approve")),
			chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
				_, err := cdp.Call(ctx, tt, network.ClearBrowserCookies, cdp.Empty{})
				return err
			}))
		if status := submit(t, tab, "#approve"); status != 403 {
			t.Errorf("approval without a session: status %d, want 403", status)
		}
		wantText(t, tab, ".problem", "not logged in")
		if d := f.draft(t, mueller); d.State != outreach.DraftProposed {
			t.Errorf("draft after an unauthenticated approval: %s", d.State)
		}
	})

	t.Run("every page is labelled and keyboard friendly", func(t *testing.T) {
		within(t, tab, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#secret")),
			chromedp.SendKeys(chromedp.CSS("#secret"), testPassword))
		submit(t, tab, `button[type="submit"].primary`)
		chenContact, err := f.st.ContactByAddress(context.Background(), "chen@med.example.edu")
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/", fmt.Sprintf("/drafts/%d", mueller), fmt.Sprintf("/threads/%d", f.threads["Tanaka"]),
			"/threads", "/contacts", fmt.Sprintf("/contacts/%d", chenContact.ID), "/settings"} {
			within(t, tab, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			ctx, cancel := context.WithTimeout(tab, 15*time.Second)
			problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck))
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, p := range problems {
				t.Errorf("%s: %s", path, p)
			}
		}
		// The first Tab reaches the skip link, and it leads to the content.
		within(t, tab, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.KeyEvent("\t"))
		ctx, cancel := context.WithTimeout(tab, 15*time.Second)
		defer cancel()
		focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute("href")`))
		if err != nil || focused != "#main" {
			t.Errorf("the first Tab focuses %q (%v), want the skip link", focused, err)
		}
	})
}

// a11yCheck lists what a screen reader user would miss on the page: a
// form control without a label, a skipped heading level, not one h1.
const a11yCheck = `(() => {
	const problems = [];
	for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
		if (!el.id || !document.querySelector('label[for="' + el.id + '"]')) {
			problems.push("no label: " + el.outerHTML.slice(0, 80));
		}
	}
	let last = 0;
	for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
		const level = Number(h.tagName[1]);
		if (level > last + 1) problems.push(h.tagName + " after h" + last + ": " + h.textContent.trim());
		last = level;
	}
	if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
	if (!document.querySelector('[aria-live]')) problems.push("no live region for results");
	return problems;
})()`
