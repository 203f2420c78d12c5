package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestCheck is the decision table of the dial check: every refused range
// at its edges, public addresses, the allow list by address, range and
// name, IPv4-mapped IPv6 and zones.
func TestCheck(t *testing.T) {
	policy := func(entries ...string) *Policy {
		p := &Policy{}
		for _, e := range entries {
			if err := p.Allow(e); err != nil {
				t.Fatalf("Allow(%q): %v", e, err)
			}
		}
		return p
	}
	none := (*Policy)(nil)
	zero := &Policy{}
	allow := policy("127.0.0.1", "10.0.0.0/8", "fd00::1", "fe80::/64", "grafana.internal", "::ffff:192.168.1.0/120")
	tests := []struct {
		addr string
		p    *Policy
		ok   bool
	}{
		// Public addresses pass.
		{"1.1.1.1", none, true},
		{"8.8.8.8", zero, true},
		{"93.184.216.34", none, true},
		{"2606:4700:4700::1111", none, true},
		{"2a00:1450:4001:80b::200e", none, true},
		{"::ffff:8.8.8.8", none, true},
		{"64:ff9b::808:808", none, true}, // NAT64 of 8.8.8.8

		// Loopback.
		{"127.0.0.1", none, false},
		{"127.0.0.0", none, false},
		{"127.255.255.255", none, false},
		{"126.255.255.255", none, true},
		{"128.0.0.0", none, true},
		{"::1", none, false},
		{"::2", none, false}, // not global unicast either
		// Unspecified and "this network".
		{"0.0.0.0", none, false},
		{"0.255.255.255", none, false},
		{"::", none, false},
		// Private.
		{"10.0.0.0", none, false},
		{"10.1.2.3", none, false},
		{"10.255.255.255", none, false},
		{"9.255.255.255", none, true},
		{"11.0.0.0", none, true},
		{"172.16.0.0", none, false},
		{"172.31.255.255", none, false},
		{"172.15.255.255", none, true},
		{"172.32.0.0", none, true},
		{"192.168.0.0", none, false},
		{"192.168.255.255", none, false},
		{"192.167.255.255", none, true},
		{"192.169.0.0", none, true},
		{"fc00::", none, false},
		{"fd12:3456::1", none, false},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", none, false},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", none, false}, // outside 2000::/3
		{"fe00::", none, false},
		// Link-local: cloud metadata.
		{"169.254.169.254", none, false},
		{"169.254.0.0", none, false},
		{"169.254.255.255", none, false},
		{"169.253.255.255", none, true},
		{"169.255.0.0", none, true},
		{"fe80::1", none, false},
		{"fe80::1%eth0", none, false},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", none, false},
		{"fd00:ec2::254", none, false}, // AWS's IPv6 metadata address
		// Shared address space.
		{"100.64.0.0", none, false},
		{"100.127.255.255", none, false},
		{"100.63.255.255", none, true},
		{"100.128.0.0", none, true},
		// Multicast and broadcast.
		{"224.0.0.1", none, false},
		{"239.255.255.255", none, false},
		{"223.255.255.255", none, true},
		{"255.255.255.255", none, false},
		{"240.0.0.1", none, false},
		{"ff02::1", none, false},
		{"ff0e::1", none, false},
		// Other ranges that are not public.
		{"192.0.0.170", none, false},
		{"192.0.2.1", none, false},
		{"198.18.0.1", none, false},
		{"198.51.100.1", none, false},
		{"203.0.113.1", none, false},
		{"2001:db8::1", none, false},
		{"64:ff9b:1::a00:1", none, false},
		{"fec0::1", none, false},
		{"::7f00:1", none, false},       // IPv4-compatible (deprecated)
		{"::ffff:0:a00:1", none, false}, // IPv4-translated
		{"100::1", none, false},
		{"5f00::1", none, false},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", none, false},
		{"2000::1", none, true},
		{"3ffe:ffff::1", none, true},
		{"3fff::1", none, false},
		{"4000::1", none, false},
		{"2001:4860:4860::8888", none, true}, // in 2001::/16 but not 2001::/23
		// IPv4-mapped IPv6 is judged as the IPv4 address it holds.
		{"::ffff:127.0.0.1", none, false},
		{"::ffff:10.0.0.1", none, false},
		{"::ffff:169.254.169.254", none, false},
		{"::ffff:192.168.1.1", none, false},
		{"::ffff:0.0.0.0", none, false},
		// NAT64 too.
		{"64:ff9b::7f00:1", none, false},
		{"64:ff9b::a9fe:a9fe", none, false},

		// The allow list: by address,
		{"127.0.0.1", allow, true},
		{"::ffff:127.0.0.1", allow, true},
		{"127.0.0.2", allow, false},
		{"::1", allow, false},
		{"fd00::1", allow, true},
		{"fd00::2", allow, false},
		// by range,
		{"10.0.0.0", allow, true},
		{"10.255.255.255", allow, true},
		{"::ffff:10.1.2.3", allow, true},
		{"64:ff9b::a01:203", allow, true}, // NAT64 of 10.1.2.3
		{"172.16.0.1", allow, false},
		{"fe80::1", allow, true},
		{"fe80::1%eth0", allow, true},
		{"fe80:0:0:1::1", allow, false},
		{"192.168.1.7", allow, true}, // from ::ffff:192.168.1.0/120
		{"192.168.2.7", allow, false},
		// and a name allows no address.
		{"169.254.169.254", allow, false},
		// Public addresses stay allowed.
		{"8.8.8.8", allow, true},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		err := tt.p.Check(a)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s) with allow %v = %v, want allowed=%t", tt.addr, tt.p, err, tt.ok)
			continue
		}
		var re *RefusedError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("Check(%s) = %T %v, want a *RefusedError", tt.addr, err, err)
		}
	}
}

func TestRefusedErrorText(t *testing.T) {
	tests := map[string]string{
		"10.1.2.3":        "address 10.1.2.3 is not allowed (bot.fetch.allow)",
		"::ffff:10.1.2.3": "address 10.1.2.3 is not allowed (bot.fetch.allow)",
		"fe80::1%eth0":    "address fe80::1 is not allowed (bot.fetch.allow)",
		"169.254.169.254": "address 169.254.169.254 is not allowed (bot.fetch.allow)",
		"::1":             "address ::1 is not allowed (bot.fetch.allow)",
	}
	for addr, want := range tests {
		err := (&Policy{}).Check(netip.MustParseAddr(addr))
		if err == nil || err.Error() != want {
			t.Errorf("Check(%s) = %v, want %q", addr, err, want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	p := &Policy{}
	for _, e := range []string{"Grafana.Internal.", "10.0.0.0/8"} {
		if err := p.Allow(e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		host string
		ok   bool
	}{
		{"grafana.internal", true},
		{"GRAFANA.internal.", true},
		{"example.com", true}, // a name is checked when dialled
		{"localhost", true},
		{"10.9.9.9", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"::ffff:169.254.169.254", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		if err := p.CheckHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("CheckHost(%q) = %v, want allowed=%t", tt.host, err, tt.ok)
		}
	}
	if !p.AllowsName("grafana.internal") || p.AllowsName("internal") || p.AllowsName("x.grafana.internal") {
		t.Error("AllowsName matches other names than grafana.internal")
	}
}

func TestAllowEntries(t *testing.T) {
	tests := []struct {
		entry, err string // err: a part of the error, or "" for none
	}{
		{"127.0.0.1", ""},
		{" 10.0.0.0/8 ", ""},
		{"10.1.2.3/8", ""}, // host bits are dropped
		{"fc00::/7", ""},
		{"::ffff:10.0.0.0/104", ""},
		{"grafana.internal", ""},
		{"GRAFANA.internal.", ""},
		{"my_host-1", ""},
		{"", "empty"},
		{"   ", "empty"},
		{"10.0.0.0/33", "not a CIDR range"},
		{"10.0.0/8", "not a CIDR range"},
		{"fe80::/10%eth0", "not a CIDR range"},
		{"http://grafana.internal", "is a URL"},
		{"grafana.internal:3000", "without a port"},
		{"127.0.0.1:80", "without a port"},
		{"fe80::1%eth0", "without a zone"},
		{"10.0.0.256", "not an IP address"},
		{"127.1", "not an IP address"},
		{"*.internal", "not a host name"},
		{"a b", "not a host name"},
		{"a..b", "not a host name"},
	}
	for _, tt := range tests {
		err := (&Policy{}).Allow(tt.entry)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Allow(%q) = %v, want nil", tt.entry, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Allow(%q) = %v, want an error with %q", tt.entry, err, tt.err)
		}
	}
}

func TestEqual(t *testing.T) {
	a, b := &Policy{}, &Policy{}
	a.Allow("10.0.0.0/8")
	b.Allow("10.1.0.0/8")
	if !a.Equal(b) {
		t.Error("10.0.0.0/8 and 10.1.0.0/8 differ")
	}
	if !(*Policy)(nil).Equal(&Policy{}) || a.Equal(nil) {
		t.Error("a nil Policy is not the zero Policy")
	}
	b.Allow("x.internal")
	if a.Equal(b) {
		t.Error("a name is ignored")
	}
}
