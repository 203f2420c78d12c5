// Package netguard keeps the fetches of rules away from the addresses they
// must not reach: loopback, private networks, link-local addresses (cloud
// metadata lives at 169.254.169.254) and the other ranges that are not
// reachable on the public internet, unless the rules file's bot.fetch.allow
// lists them.
//
// The check is made on the address a connection is actually made to, after
// DNS, by the dialer of Transport: a host name that resolves (or
// re-resolves, "DNS rebinding") to a refused address cannot pass it. Every
// redirect is dialled through the same check, and CheckRedirect limits
// where redirects may go and what they carry.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// A Policy says which addresses a fetch may connect to: every public
// address, and the addresses, ranges and host names allowed on top of
// that. The zero Policy, and a nil *Policy, allow public addresses only. A
// Policy must not be changed once it is in use.
type Policy struct {
	prefixes []netip.Prefix // allowed addresses and ranges, IPv4 ones unmapped
	names    []string       // allowed host names, lower case, without a final dot
}

// RefusedError is the error of a connection to an address the policy does
// not allow.
type RefusedError struct {
	Addr netip.Addr
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("address %s is not allowed (bot.fetch.allow)", e.Addr)
}

// refused holds the IPv4 ranges a fetch may not connect to unless allowed:
// those IANA's special-purpose address registry marks as not globally
// reachable, and multicast.
var refused4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; 0.0.0.0 reaches this host
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local: cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address 255.255.255.255
}

// Every public IPv6 address is in global6, 2000::/3. Outside it lie the
// unspecified address ::, loopback ::1, unique local fc00::/7 (private),
// link-local fe80::/10, multicast ff00::/8 and reserved ranges, all refused.
// Inside it, refused6 is refused too.
var (
	global6  = netip.MustParsePrefix("2000::/3")
	refused6 = []netip.Prefix{
		netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments
		netip.MustParsePrefix("2001:db8::/32"), // documentation
		netip.MustParsePrefix("3fff::/20"),     // documentation
	}
)

// nat64 is the well-known prefix of IPv4/IPv6 translation: 64:ff9b::a.b.c.d
// reaches the IPv4 address a.b.c.d through a translator, so it is judged as
// that address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Check returns nil when a connection to a is allowed, else a *RefusedError.
// An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4
// address it holds, and an IPv6 zone (fe80::1%eth0) is ignored.
func (p *Policy) Check(a netip.Addr) error {
	if !a.IsValid() {
		return errors.New("no address to check")
	}
	a = a.Unmap().WithZone("")
	if p.allowsAddr(a) {
		return nil
	}
	if nat64.Contains(a) {
		b := a.As16()
		if p.Check(netip.AddrFrom4([4]byte(b[12:]))) != nil {
			return &RefusedError{Addr: a}
		}
		return nil
	}
	ranges := refused4
	if a.Is6() {
		if !global6.Contains(a) {
			return &RefusedError{Addr: a}
		}
		ranges = refused6
	}
	for _, r := range ranges {
		if r.Contains(a) {
			return &RefusedError{Addr: a}
		}
	}
	return nil
}

func (p *Policy) allowsAddr(a netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, r := range p.prefixes {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// AllowsName reports whether host is one of the host names the policy
// allows; connections to it are not checked.
func (p *Policy) AllowsName(host string) bool {
	return p != nil && slices.Contains(p.names, canonicalName(host))
}

// CheckHost checks the host of a URL (without brackets or port) before
// anything is dialled: an allowed name passes, an IP address is checked
// now, and any other name is checked when its addresses are dialled.
func (p *Policy) CheckHost(host string) error {
	if p.AllowsName(host) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	return nil
}

// Equal reports whether p and q allow the same addresses and names.
func (p *Policy) Equal(q *Policy) bool {
	var empty Policy
	if p == nil {
		p = &empty
	}
	if q == nil {
		q = &empty
	}
	return slices.Equal(p.prefixes, q.prefixes) && slices.Equal(p.names, q.names)
}

var hostNameRE = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)
var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// Allow adds one bot.fetch.allow entry to p: a host name
// (grafana.internal), an IP address (10.1.2.3, fd00::1) or a CIDR range
// (10.0.0.0/8, fc00::/7).
func (p *Policy) Allow(entry string) error {
	s := strings.TrimSpace(entry)
	switch {
	case s == "":
		return errors.New("an entry is empty")
	case strings.Contains(s, "://"):
		return fmt.Errorf("%q is a URL: give its host name alone", entry)
	case strings.Contains(s, "/"):
		r, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or fc00::/7", entry)
		}
		r = r.Masked()
		if r.Addr().Is4In6() && r.Bits() >= 96 {
			r = netip.PrefixFrom(r.Addr().Unmap(), r.Bits()-96)
		}
		p.prefixes = append(p.prefixes, r)
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%q: give the address without a zone", entry)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
		return nil
	}
	name := canonicalName(s)
	labels := strings.Split(name, ".")
	switch {
	case strings.Contains(s, ":"):
		return fmt.Errorf("%q is not an IP address or a host name (give a host name without a port)", entry)
	case !hostNameRE.MatchString(name) || len(name) > 253:
		return fmt.Errorf("%q is not a host name, IP address or CIDR range", entry)
	case digitsRE.MatchString(labels[len(labels)-1]):
		return fmt.Errorf("%q is not an IP address", entry)
	}
	p.names = append(p.names, name)
	return nil
}

// canonicalName is host in lower case without a final dot.
func canonicalName(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

type policyKey struct{}

// WithPolicy returns a context that makes Transport dial under p. A request
// whose context has no policy is dialled under the zero Policy.
func WithPolicy(ctx context.Context, p *Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

func policyFrom(ctx context.Context) *Policy {
	p, _ := ctx.Value(policyKey{}).(*Policy)
	return p
}
