// Package relay decides who may send mail through us and to whom: the
// open-relay rules of a border MTA, the rules that stop outsiders from
// using our own domains as senders, and, for checks that run behind a
// border MTA, which Received: hop was the real client.
//
// Check implements Postfix's default relay restrictions
// (permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination)
// and its sender rules (reject_sender_login_mismatch), with the address
// handling of Postfix's trivial-rewrite resolver: an address whose local
// part still routes elsewhere (user%remote@local, remote!user@local,
// "user@remote"@local) is never a local destination. Its results carry
// demands, not scores: every reference system treats relay control as a
// yes-or-no rule, and trust in authenticated or internal clients belongs in
// verdict.Policy.Exempt, not in a score.
//
// Border reads the Received: fields of a message the way SpamAssassin's
// trust path does, to find the first hop outside our own networks, whose IP
// address and HELO name the IP-based checks must use.
package relay
