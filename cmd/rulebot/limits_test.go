package main

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rulebot/rulebot/internal/slackfake"
)

// TestProcessLongReply has the built binary answer with a 68,000-character
// reply holding NUL bytes and invalid UTF-8: Slack receives 5 messages of
// at most 4,000 characters, in order, valid UTF-8 without NUL, the last
// ending with "…".
func TestProcessLongReply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fake := workspace(0)
	defer fake.Close()
	rules := write(t, t.TempDir(), "rules.yaml", `rules:
  - name: big
    match: {command: big}
    reply: "{{ rest }}\n{{ join(map(1..4000, 'line ' + string(#) + ' of 17'), '\\n') }}"
`)
	p := startProc(t, slackEnv(fake, rules), "run")
	p.waitLog("connected to Slack", 1)
	first := say(t, ctx, fake, "<@UBOT> big nul\x00 and \xff")
	posts := []slackfake.Post{first}
	for range 4 {
		post, err := fake.WaitPost(ctx)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, post)
	}
	if got, want := strings.SplitN(first.Text, "\n", 2)[0], "nul and \uFFFD"; got != want {
		t.Errorf("the first line is %q, want %q", got, want)
	}
	posts[0].Text = strings.SplitN(first.Text, "\n", 2)[1]
	next := 1
	for i, post := range posts {
		if n := utf8.RuneCountInString(post.Text); n > 4000 || !utf8.ValidString(post.Text) || strings.Contains(post.Text, "\x00") {
			t.Errorf("post %d: %d characters, valid UTF-8 %v", i, n, utf8.ValidString(post.Text))
		}
		lines := strings.Split(strings.TrimSuffix(post.Text, "…"), "\n")
		for _, l := range lines {
			if want := "line " + itoa(next) + " of 17"; !strings.HasPrefix(want, l) {
				t.Fatalf("post %d: line %q, want %q: parts out of order or split inside a line", i, l, want)
			}
			next++
		}
	}
	if last := posts[4].Text; !strings.HasSuffix(last, "…") {
		t.Errorf("the fifth post ends %q, want …", last[len(last)-10:])
	}
	p.waitLog("reply too long", 1)
	// Nothing more is posted: a sixth message would show before this one.
	if got := say(t, ctx, fake, "<@UBOT> big again").Text; !strings.HasPrefix(got, "again\nline 1 of 17\n") {
		t.Errorf("after the cut reply, the next post is %.30q, want the next reply", got)
	}
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		if i /= 10; i == 0 {
			return s
		}
	}
}
