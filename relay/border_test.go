package relay

import (
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/internal/netset"
)

var ourNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}

// ourHop is the field our own filter host writes when the border hands
// the message on.
const ourHop = "Received: from border.local.example (border.local.example [10.0.0.1])\r\n" +
	"\tby filter.local.example (Postfix) with ESMTP id 4AAA0001\r\n" +
	"\tfor <user@local.example>; Mon,  1 Dec 2025 10:00:05 +0000 (UTC)\r\n"

// forged are fields a sender can put below the border's field.
const forged = "Received: from trusted.local.example (trusted.local.example [10.0.0.99])\r\n" +
	"\tby mx.local.example (Postfix) with ESMTP id FORGED; Mon, 1 Dec 2025 09:00:00 +0000\r\n" +
	"Received: from localhost (localhost [127.0.0.1]) by x; Mon, 1 Dec 2025 09:00:00 +0000\r\n" +
	"Received: garbage ((( [\r\n" +
	"Received: from x ([198.51.100.99]) by y with ESMTPSA; Mon, 1 Dec 2025 09:00:00 +0000\r\n"

func msg(fields ...string) string {
	return strings.Join(fields, "") + "Subject: test\r\nFrom: <a@sender.example>\r\n\r\nReceived: from body ([192.0.2.99]) by x;\r\n"
}

// TestBorderFormats: one untrusted field of each format, behind ourHop.
func TestBorderFormats(t *testing.T) {
	for _, c := range []struct {
		name, field string
		ip, helo    string
		auth        bool
	}{
		{"postfix", "Received: from helo.sender.example (mail.sender.example [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTPS id 4ABC123\r\n" +
			"\tfor <user@local.example>; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"postfix no rDNS", "Received: from helo.sender.example (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"postfix IPv6", "Received: from mail.sender.example (mail.sender.example [IPv6:2001:db8:5::1])\r\n" +
			"\tby border.local.example (Postfix) with ESMTPS id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"2001:db8:5::1", "mail.sender.example", false},
		{"postfix literal HELO", "Received: from [192.168.1.10] (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "[192.168.1.10]", false},
		{"postfix loopback literal HELO", "Received: from [127.0.0.1] (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "[127.0.0.1]", false},
		{"postfix HELO with spaces and by", "Received: from [127.0.0.1] by x (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "[127.0.0.1]", false},
		{"postfix HELO with spaces and by folded", "Received: from [127.0.0.1] by xxxxxxxxxxxxxxxxxxxx\r\n" +
			" (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "[127.0.0.1]", false},
		{"postfix HELO with spaces", "Received: from a b [10.0.0.5] (unknown [203.0.113.5])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"203.0.113.5", "a b [10.0.0.5]", false},
		{"postfix submission", "Received: from [10.9.8.7] (dyn-198-51-100-7.isp.example [198.51.100.7])\r\n" +
			"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n" +
			"\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n" +
			"\t(No client certificate requested)\r\n" +
			"\t(Authenticated sender: 10.0.0.1)\r\n" +
			"\tby border.local.example (Postfix) with ESMTPSA id 4ABC124\r\n" +
			"\tfor <bob@remote.example>; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n",
			"198.51.100.7", "[10.9.8.7]", true},
		{"exim", "Received: from mail.sender.example ([203.0.113.5]:41234 helo=smtp.sender.example)\r\n" +
			"\tby border.local.example with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n" +
			"\t(Exim 4.96)\r\n\t(envelope-from <a@sender.example>)\r\n\tid 1abcde-000123-AB\r\n" +
			"\tfor user@local.example; Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "smtp.sender.example", false},
		{"exim HELO is host name", "Received: from mail.sender.example ([203.0.113.5])\r\n" +
			"\tby border.local.example with esmtp (Exim 4.96); Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "mail.sender.example", false},
		{"exim no rDNS", "Received: from [203.0.113.5] (port=41234 helo=smtp.sender.example)\r\n" +
			"\tby border.local.example with esmtp (Exim 4.96); Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "smtp.sender.example", false},
		{"exim no rDNS, HELO is the address", "Received: from [203.0.113.5]\r\n" +
			"\tby border.local.example with esmtp (Exim 4.96)\r\n\t(envelope-from <a@[10.0.0.1]>)\r\n" +
			"\tid 1abcde-000123-AB; Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "[203.0.113.5]", false},
		{"exim IPv6", "Received: from mail.sender.example ([2001:db8:5::1]:41234 helo=mail6.sender.example)\r\n" +
			"\tby border.local.example with esmtp (Exim 4.96); Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"2001:db8:5::1", "mail6.sender.example", false},
		{"exim literal helo", "Received: from [198.51.100.7] (helo=[10.0.0.1])\r\n" +
			"\tby border.local.example with esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n" +
			"\t(Exim 4.96); Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"198.51.100.7", "[10.0.0.1]", true},
		{"sendmail", "Received: from helo.sender.example (mail.sender.example [203.0.113.5])\r\n" +
			"\tby border.local.example (8.17.1/8.17.1) with ESMTP id 5B1A0a0b012345\r\n" +
			"\tfor <user@local.example>; Mon, 1 Dec 2025 10:00:00 GMT\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"sendmail may be forged", "Received: from helo.sender.example (mail.sender.example [203.0.113.5] (may be forged))\r\n" +
			"\tby border.local.example (8.17.1/8.17.1) with ESMTP id 5B1A0a0b012345; Mon, 1 Dec 2025 10:00:00 GMT\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"sendmail ident", "Received: from helo.sender.example ([10.0.0.1]@mail.sender.example [203.0.113.5])\r\n" +
			"\tby border.local.example (8.17.1/8.17.1) with ESMTP id 5B1A0a0b012345; Mon, 1 Dec 2025 10:00:00 GMT\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"sendmail no rDNS", "Received: from helo.sender.example ([203.0.113.5])\r\n" +
			"\tby border.local.example (8.17.1/8.17.1) with SMTP id 5B1A0a0b012345; Mon, 1 Dec 2025 10:00:00 GMT\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"sendmail IPv6", "Received: from helo.sender.example (mail.sender.example [IPv6:2001:db8:5::1])\r\n" +
			"\tby border.local.example (8.17.1/8.17.1) with ESMTP id 5B1A0a0b012345; Mon, 1 Dec 2025 10:00:00 GMT\r\n",
			"2001:db8:5::1", "helo.sender.example", false},
		{"exchange", "Received: from mail-ed1-f54.google.com (209.85.208.54) by border.local.example (10.0.0.1) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.6; Mon, 1 Dec 2025 10:00:00 +0000\r\n",
			"209.85.208.54", "mail-ed1-f54.google.com", false},
		{"exchange IPv6 folded", "Received: from BYAPR11MB1234.namprd11.prod.outlook.com (2603:10b6:a03:2d0::15) by\r\n" +
			" border.local.example (10.0.0.1) with Microsoft SMTP Server (version=TLS1_2,\r\n" +
			" cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7452.49; Mon, 1 Dec 2025 10:00:00 +0000\r\n",
			"2603:10b6:a03:2d0::15", "BYAPR11MB1234.namprd11.prod.outlook.com", false},
		{"gmail", "Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n" +
			"        by border.local.example with SMTPS id a640c23a62f3a-a9a0f3e0c1bsor1234567866b.5.2025.12.01.02.00.00\r\n" +
			"        for <user@local.example>\r\n        (Google Transport Security);\r\n" +
			"        Mon, 01 Dec 2025 02:00:00 -0800 (PST)\r\n",
			"209.85.220.41", "mail-sor-f41.google.com", false},
		{"gmail IPv6", "Received: from mail.sender.example (mail.sender.example. [2001:db8:5::1])\r\n" +
			"        by border.local.example with ESMTPS id x; Mon, 01 Dec 2025 02:00:00 -0800 (PST)\r\n",
			"2001:db8:5::1", "mail.sender.example", false},
		{"gmail submission", "Received: from [192.168.1.20] (host-198-51-100-7.isp.example. [198.51.100.7])\r\n" +
			"        by border.local.example with ESMTPSA id x; Mon, 01 Dec 2025 02:00:00 -0800 (PST)\r\n",
			"198.51.100.7", "[192.168.1.20]", true},
		{"qmail", "Received: (qmail 12345 invoked from network); 1 Dec 2025 10:00:00 -0000\r\n" +
			"Received: from unknown (HELO helo.sender.example) (203.0.113.5)\r\n" +
			"  by border.local.example with SMTP; 1 Dec 2025 10:00:00 -0000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"qmail same HELO", "Received: from mail.sender.example (203.0.113.5)\r\n" +
			"  by border.local.example with SMTP; 1 Dec 2025 10:00:00 -0000\r\n",
			"203.0.113.5", "mail.sender.example", false},
		{"qmail unknown", "Received: from unknown (203.0.113.5)\r\n" +
			"  by border.local.example with SMTP; 1 Dec 2025 10:00:00 -0000\r\n",
			"203.0.113.5", "", false},
		{"qmail ident", "Received: from unknown (HELO [10.0.0.1]) (10.0.0.2@203.0.113.5)\r\n" +
			"  by border.local.example with SMTP; 1 Dec 2025 10:00:00 -0000\r\n",
			"203.0.113.5", "[10.0.0.1]", false},
		{"courier mapped", "Received: from mail.sender.example (mail.sender.example [::ffff:203.0.113.5])\r\n" +
			"  (AUTH: LOGIN alice, TLS: TLSv1/SSLv3,256bits,AES256-SHA)\r\n" +
			"  by border.local.example with ESMTPSA; Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "mail.sender.example", true},
		{"communigate", "Received: from [203.0.113.5] (HELO helo.sender.example)\r\n" +
			"  by border.local.example (CommuniGate Pro SMTP 5.1.13) with ESMTPS id 9843045; Wed, 09 Apr 2008 02:31:33 +0700\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"communigate authenticated, literal HELO", "Received: from [203.0.113.5] (account user@local.example HELO [8.8.8.8])\r\n" +
			"  by border.local.example (CommuniGate Pro SMTP 4.3.7) with ESMTPSA id 88402416; Mon, 04 Dec 2006 13:15:07 -0800\r\n",
			"203.0.113.5", "[8.8.8.8]", true},
		{"communigate authenticated, trusted literal HELO", "Received: from [203.0.113.5] (account user@local.example HELO [10.0.0.9])\r\n" +
			"  by border.local.example (CommuniGate Pro SMTP 4.3.7) with ESMTPSA id 88402416; Mon, 04 Dec 2006 13:15:07 -0800\r\n",
			"203.0.113.5", "[10.0.0.9]", true},
		{"momentum", "Received: from ([203.0.113.5:50387] helo=helo.sender.example)\r\n" +
			"  by border.local.example (ecelerity 2.1.1.3 r(11743)) with ESMTP id 80/0A-02454-4DCB6054; Tue, 12 Sep 2006 09:57:40 -0400\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"empty from-name", "Received: from  ([203.0.113.5]) by border.local.example with Microsoft SMTPSVC(5.0.2195.6713); Wed, 6 Sep 2006 21:14:29 -0400\r\n",
			"203.0.113.5", "", false},
		{"empty from-name, bare address", "Received: from (203.0.113.5) by border.local.example via smtp id 021b; Tue, 23 May 2006 13:06:35 -0400\r\n",
			"203.0.113.5", "", false},
		{"exim 3", "Received: from mail.sender.example (helo.sender.example) [203.0.113.5.13219] (ident)\r\n" +
			"  by border.local.example with esmtp (Exim 3.35 #1 (Debian)) id 1CO5y7-0001vC-00; Sun, 31 Oct 2004 04:01:23 +0100\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"exim 3 in comment", "Received: from helo.sender.example ([203.0.113.5.63559]) by border.local.example with esmtp  (v3.35.1) id 1GNrLz-000295-00; Thu, 14 Sep 2006 09:34:07 -0400\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"xmail", "Received: from helo.sender.example (203.0.113.5:23198) by border.local.example with [XMail 1.20 ESMTP Server] id <S72E>; Sat, 18 Sep 2004 23:17:54 -0500\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"bare address", "Received: from 203.0.113.5 by border.local.example (SMTPL release 1.0d) with TCP; Fri, 1 Sep 2006 20:28:14 -0400\r\n",
			"203.0.113.5", "", false},
		{"gmx EHLO comment then literal", "Received: from mail.sender.example (EHLO helo.sender.example) [203.0.113.5]\r\n" +
			"  by border.local.example (mp033) with SMTP; 23 Nov 2012 19:06:20 +0100\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"qmqp", "Received: from mail.sender.example [203.0.113.5] by border.local.example with QMQP; Fri, 08 Feb 2019 06:56:18 -0500\r\n",
			"203.0.113.5", "mail.sender.example", false},
		{"mdaemon, the host's own address", "Received: from helo.sender.example [203.0.113.5] by border.local.example [10.0.0.1] with SMTP (MDaemon.PRO.v5.0.6.R); Fri, 21 Feb 2003 09:32:27 +1000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"qmail empty HELO", "Received: from mail.sender.example (HELO ) (203.0.113.5)\r\n  by border.local.example with SMTP; 3 Mar 2004 20:34:38 -0000\r\n",
			"203.0.113.5", "", false},
		{"qmail empty EHLO", "Received: from 203.0.113.5  (EHLO ) (203.0.113.5) by border.local.example with SMTP; Sun, 25 Jan 2004 00:24:37 -0800\r\n",
			"203.0.113.5", "", false},
		{"LMTP LHLO", "Received: from unknown (LHLO helo.sender.example) (203.0.113.5)\r\n  by border.local.example with LMTP; 3 Mar 2004 20:34:38 -0000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"claiming to be", "Received: from mail.sender.example(203.0.113.5), claiming to be \"helo.sender.example\"\r\n" +
			"  via SMTP by border.local.example, id smtpd1PBsZT; Sun Nov 13 15:38:52 2005\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"sendmail glued rDNS", "Received: from helo.sender.example (mail.sender.example[203.0.113.5])\r\n" +
			"  by border.local.example (rwcrmhc53) with SMTP id <2003>; Sat, 22 Feb 2003 19:34:39 +0000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"qmail-ldap ident literal", "Received: from unknown (HELO helo.sender.example) (jdavid@[203.0.113.5]) (envelope-sender <a@b>)\r\n" +
			"  by border.local.example (qmail-ldap-1.03) with SMTP for <a@b>; 12 Feb 2003 18:23:19 -0000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"amavisd, the host's own address", "Received: from helo.sender.example ([203.0.113.5])\r\n" +
			"  by border.local.example (border.local.example [198.51.100.25]) (amavisd-new, port 10026)\r\n" +
			"  with ESMTP id x; Mon, 01 Dec 2025 10:00:00 +0000\r\n",
			"203.0.113.5", "helo.sender.example", false},
		{"exchange online IPv6 with zone", "Received: from DM6PR12MB4123.namprd12.prod.outlook.com ([2603:10b6:5:1c0::15]) by\r\n" +
			" DM6PR12MB4124.namprd12.prod.outlook.com ([fe80::1234:5678:9abc:def0%4]) with mapi id 15.20.5373.018;\r\n Mon, 1 Dec 2025 10:00:00 +0000\r\n",
			"2603:10b6:5:1c0::15", "DM6PR12MB4123.namprd12.prod.outlook.com", false},
		{"unknown name before the address", "Received: from unknown [203.0.113.5] by border.local.example with QMQP; Fri, 08 Feb 2019 06:56:18 -0500\r\n",
			"203.0.113.5", "", false},
		{"lower-case keywords, LF only", "received: FROM helo.sender.example (x [203.0.113.5])\n\tBY border WITH esmtpa;\n",
			"203.0.113.5", "helo.sender.example", true},
	} {
		for _, prefix := range []string{"", ourHop, "Return-Path: <a@sender.example>\r\nX-Filter: 1\r\n" + ourHop + "DKIM-Signature: v=1;\r\n b=x\r\n"} {
			hop, err := Border(strings.NewReader(msg(prefix, c.field, forged)), ourNets)
			want := Hop{IP: netip.MustParseAddr(c.ip), HELO: c.helo, Auth: c.auth}
			if err != nil || hop != want {
				t.Errorf("%s (prefix %d bytes): got %+v, %v; want %+v", c.name, len(prefix), hop, err, want)
			}
		}
	}
}

func TestBorderWalk(t *testing.T) {
	field := func(ip string) string {
		return "Received: from h (h [" + ip + "])\r\n\tby x (Postfix) with ESMTP id 1; Mon, 1 Dec 2025 10:00:00 +0000\r\n"
	}
	reinjected := "Received: from localhost (localhost [127.0.0.1])\r\n\tby filter (Postfix) with ESMTP id 2; Mon, 1 Dec 2025 10:00:00 +0000\r\n"
	pickup := "Received: by filter.local.example (Postfix, from userid 1000)\r\n\tid 3; Mon, 1 Dec 2025 10:00:00 +0000\r\n"
	for _, c := range []struct {
		name    string
		message string
		trusted []netip.Prefix
		ip      string
		err     error // nil: want ip; errAny: any error but ErrNoHop
	}{
		{"first field untrusted", msg(field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"no trusted networks", msg(field("10.0.0.1"), field("203.0.113.5")), nil, "10.0.0.1", nil},
		{"two trusted hops", msg(field("10.0.0.1"), field("2001:db8:ffff::1"), field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"loopback always trusted", msg(reinjected, field("::1"), field("10.0.0.1"), field("203.0.113.5")), nil, "10.0.0.1", nil},
		{"mapped trusted", msg(field("10.0.0.1"), field("203.0.113.5")), []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, "203.0.113.5", nil},
		{"mapped client", msg(field("::ffff:10.0.0.1"), field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"private not inferred", msg(field("192.168.1.1"), field("203.0.113.5")), ourNets, "192.168.1.1", nil},
		{"pickup passed over", msg(pickup, field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"qmail comment passed over", msg("Received: (qmail 1 invoked by uid 89); 1 Dec 2025\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"gmail internal passed over", msg("Received: by 2002:a05:6a10:1234::1 with SMTP id abc;\r\n        Mon, 01 Dec 2025 02:00:00 -0800 (PST)\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"mbox From line", "From a@sender.example Mon Dec  1 10:00:00 2025\n" + msg(field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"obsolete space before colon", msg("Received : from h (h [203.0.113.5]) by x;\r\n"), ourNets, "203.0.113.5", nil},
		{"header only, no body", strings.TrimSuffix(field("203.0.113.5"), "\r\n"), ourNets, "203.0.113.5", nil},
		{"hop then garbage", msg(field("203.0.113.5"), "not a header line\r\n"), ourNets, "203.0.113.5", nil},

		{"no Received", msg(), ourNets, "", ErrNoHop},
		{"empty message", "", ourNets, "", ErrNoHop},
		{"all trusted", msg(field("10.0.0.1"), reinjected, pickup), ourNets, "", ErrNoHop},
		{"Received only in body", "Subject: x\r\n\r\n" + field("203.0.113.5"), ourNets, "", ErrNoHop},
		{"unreadable before hop", msg(field("10.0.0.1"), "Received: garbage\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"local submission, no address", msg("Received: from user by filter.local.example with local (Exim 4.96)\r\n\tid 1; Mon, 1 Dec 2025\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"unclosed leading comment", msg("Received: (qmail 1 invoked\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"unspecified address", msg("Received: from h (h [0.0.0.0]) by x;\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"malformed header before hop", msg("not a header line\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"continuation first", msg(" folded\r\n", field("203.0.113.5")), ourNets, "", errAny},
		// An empty from-name is an empty HELO (Microsoft SMTPSVC, MailEnable).
		{"from without name", msg("Received: from (h [203.0.113.5]) by x;\r\n"), ourNets, "203.0.113.5", nil},
		// A from literal followed by no TCP-info is the host's record of
		// the client (Exim, CommuniGate Pro), here a trusted one.
		{"literal followed by a comment without address", msg("Received: from [10.0.0.1] (unknown) by x;\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"communigate HELO comment", msg("Received: from [10.0.0.1] (HELO x)\r\n\tby b;\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"communigate HELO literal, trusted", msg("Received: from [10.0.0.1] (HELO [203.0.113.9])\r\n\tby b;\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"communigate HELO with an address after", msg("Received: from [203.0.113.5] (HELO x) (y [10.1.2.3]) by b;\r\n", field("10.0.0.2")), ourNets, "", errAny},
		{"communigate account name", msg("Received: from [203.0.113.5] (account [10.0.0.1] HELO x) by b;\r\n", field("10.0.0.2")), ourNets, "", errAny},
		// Fields without a "from" clause that record a client.
		{"from in a comment", msg("Received: (from KRYPTIK [10.0.0.1]) by host.name (NAVGW 2.5.2.12) with SMTP id M1; Tue, 04 Apr 2006 15:28:45 +0100\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"from in a comment, untrusted", msg("Received: (from KRYPTIK [203.0.113.5]) by host.name (NAVGW 2.5.2.12) with SMTP id M1; Tue, 04 Apr 2006 15:28:45 +0100\r\n", field("198.51.100.1")), ourNets, "203.0.113.5", nil},
		{"address in a comment, no from", msg("Received: (ofmipd 203.0.113.5); 17 Mar 2003 04:09:01 -0000\r\n", field("10.0.0.2")), ourNets, "", errAny},
		{"address glued in a comment", msg("Received: (qmail 1 messnum 2 invoked from network[203.0.113.5/x.example]); 8 Mar 2004 23:59:05 -0000\r\n", field("10.0.0.2")), ourNets, "", errAny},
		{"two comments with addresses", msg("Received: (from a [10.0.0.1]) (from b [10.0.0.2]) by x;\r\n", field("203.0.113.5")), ourNets, "", errAny},
		{"bracket HELO with spaces, no comment", msg("Received: from [10.0.0.1] extra by x;\r\n", field("203.0.113.5")), ourNets, "", errAny},

		// Fields that can be read as recording more than one client.
		{"exchange, own address untrusted", msg("Received: from EX (10.1.1.1) by EX2 (198.51.100.2) with Microsoft SMTP Server id 15.1.2507.6; Mon, 1 Dec 2025 10:00:00 +0000\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"two untrusted comments", msg("Received: from x (x [198.51.100.1]) (y [203.0.113.5]) by b;\r\n"), ourNets, "", errAny},
		{"two untrusted readings", msg("Received: from x (x [198.51.100.1]) by a b (y [203.0.113.5]) by b;\r\n"), ourNets, "", errAny},
		{"trusted and untrusted readings", msg("Received: from x (x [10.0.0.1]) by a b (y [203.0.113.5]) by b;\r\n", field("10.0.0.2")), ourNets, "", errAny},
		{"trusted readings", msg("Received: from x (x [10.0.0.1]) by a b (y [10.0.0.2]) by b;\r\n", field("203.0.113.5")), ourNets, "203.0.113.5", nil},
		{"untrusted comment, no reading", msg("Received: from x (x [10.0.0.1]) by b for <\"(y [203.0.113.5])\"@c>;\r\n", field("10.0.0.2")), ourNets, "", errAny},
		{"reverse DNS name HELO", msg("Received: from x (x [10.1.2.3]) (HELO [203.0.113.5] (may be forged))\r\n\tby border (8.17.1/8.17.1) with ESMTP id 1; Mon, 1 Dec 2025 10:00:00 GMT\r\n", field("10.0.0.7")), ourNets, "", errAny},
		{"unspecified among readings", msg("Received: from x (x [10.0.0.1]) (y [0.0.0.0]) by b;\r\n", field("203.0.113.5")), ourNets, "", errAny},
	} {
		hop, err := Border(strings.NewReader(c.message), c.trusted)
		switch {
		case c.err == nil:
			if err != nil || hop.IP != netip.MustParseAddr(c.ip) {
				t.Errorf("%s: got %+v, %v; want %s", c.name, hop, err, c.ip)
			}
		case c.err == errAny:
			if err == nil || errors.Is(err, ErrNoHop) {
				t.Errorf("%s: got %+v, %v; want a read error", c.name, hop, err)
			}
		default:
			if !errors.Is(err, c.err) {
				t.Errorf("%s: got %+v, %v; want %v", c.name, hop, err, c.err)
			}
		}
	}
}

var errAny = errors.New("any error")

func TestBorderLimits(t *testing.T) {
	hop := "Received: from h (h [203.0.113.5]) by x;\r\n"

	// A huge header before the hop is refused without reading it all.
	r := &countingReader{r: io.MultiReader(strings.NewReader("X-Junk: "), neverEnding('a'))}
	if _, err := Border(r, ourNets); err == nil {
		t.Error("endless header: no error")
	}
	if r.n > header.MaxSize+64<<10 {
		t.Errorf("endless header: read %d bytes", r.n)
	}

	// Too many fields before the hop.
	many := strings.Repeat("X-A: b\r\n", header.MaxFields) + hop
	if _, err := Border(strings.NewReader(many), ourNets); err == nil {
		t.Error("too many fields: no error")
	}
	if _, err := Border(strings.NewReader(strings.Repeat("X-A: b\r\n", header.MaxFields-1)+hop), ourNets); err != nil {
		t.Errorf("%d fields: %v", header.MaxFields, err)
	}

	// The header section is read with a mail reader's bounds (package
	// header), below the hop too: a section over them is an error.
	r = &countingReader{r: io.MultiReader(strings.NewReader(hop+"X-Junk: "), neverEnding('a'))}
	if _, err := Border(r, ourNets); err == nil {
		t.Error("hop then an endless header: no error")
	}
	if r.n > header.MaxSize+64<<10 {
		t.Errorf("hop then an endless header: read %d bytes", r.n)
	}

	// Nothing of the body is read beyond a buffer.
	r = &countingReader{r: io.MultiReader(strings.NewReader(hop+"\r\n"), neverEnding('a'))}
	if h, err := Border(r, ourNets); err != nil || h.IP != netip.MustParseAddr("203.0.113.5") {
		t.Errorf("hop then an endless body: %+v, %v", h, err)
	}
	if r.n > 64<<10 {
		t.Errorf("hop then an endless body: read %d bytes", r.n)
	}

	// One long folded field within the limit is fine.
	long := "Received: from h (h [203.0.113.5])" + strings.Repeat("\r\n (c)", 100000) + " by x;\r\n"
	if h, err := Border(strings.NewReader(long), ourNets); err != nil || h.IP != netip.MustParseAddr("203.0.113.5") {
		t.Errorf("long field: %+v, %v", h, err)
	}
}

// The client of our border in the tests below, and the fields around the
// border's own: our filter's field on top, and fields the client forges
// at the top of its data (a trusted hop and a spoofed one).
const (
	borderClient = "203.0.113.5"
	forgedBelow  = "Received: from trusted.local.example (trusted.local.example [10.0.0.99]) by x; Mon, 1 Dec 2025 09:00:00 +0000\r\n" +
		"Received: from spoof.example (spoof.example [198.51.100.77]) by x; Mon, 1 Dec 2025 09:00:00 +0000\r\n"
)

// clientMessage returns a message our border received from borderClient,
// with text the client chose: its HELO name, its recipient (which our
// filter's field records too) and the start of its data (tail). layout
// is how the border writes its field:
//
//   - "verbatim": as Postfix does, but with the HELO name written as
//     the client sent it, parentheses included;
//   - "one line": the same, on one line;
//   - "client CN": as Postfix does (parentheses in the HELO name become
//     '?'), with the client certificate's CN, which the client also
//     chose, written verbatim in a comment before "by";
//   - "exim": as Exim does, with the client's text as the sender.
func clientMessage(layout, helo, rcpt, tail string) string {
	var b strings.Builder
	b.WriteString("Received: from border.local.example (border.local.example [10.0.0.1])\r\n" +
		"\tby filter.local.example (Postfix) with ESMTP id 4AAA0001\r\n" +
		"\tfor <" + rcpt + ">; Mon,  1 Dec 2025 10:00:05 +0000 (UTC)\r\n")
	switch layout {
	case "verbatim":
		b.WriteString("Received: from " + helo + " (mail.sender.example [" + borderClient + "])\r\n" +
			"\tby border.local.example (Postfix) with ESMTP id 4ABC123\r\n" +
			"\tfor <" + rcpt + ">; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n")
	case "one line":
		b.WriteString("Received: from " + helo + " (mail.sender.example [" + borderClient + "]) by border.local.example" +
			" with ESMTP id 4ABC123 for <" + rcpt + ">; Mon, 1 Dec 2025 10:00:00 +0000\r\n")
	case "client CN":
		b.WriteString("Received: from " + strings.NewReplacer("(", "?", ")", "?").Replace(helo) +
			" (mail.sender.example [" + borderClient + "])\r\n" +
			"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n" +
			"\t(Client CN \"" + helo + "\", Issuer \"Evil CA\" (not verified))\r\n" +
			"\tby border.local.example (Postfix) with ESMTPS id 4ABC123\r\n" +
			"\tfor <" + rcpt + ">; Mon,  1 Dec 2025 10:00:00 +0000 (UTC)\r\n")
	case "exim":
		b.WriteString("Received: from mail.sender.example ([" + borderClient + "]:41234 helo=mail.sender.example)\r\n" +
			"\tby border.local.example with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n" +
			"\t(Exim 4.96)\r\n\t(envelope-from <" + helo + ">)\r\n\tid 1abcde-000123-AB\r\n" +
			"\tfor " + rcpt + "; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "communigate":
		b.WriteString("Received: from [" + borderClient + "] (HELO " + helo + ")\r\n" +
			"\tby border.local.example (CommuniGate Pro SMTP 5.1.13) with ESMTPS id 9843045\r\n" +
			"\tfor " + rcpt + "; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "communigate account":
		b.WriteString("Received: from [" + borderClient + "] (account user@local.example HELO " + helo + ")\r\n" +
			"\tby border.local.example (CommuniGate Pro SMTP 5.1.13) with ESMTPS id 9843045\r\n" +
			"\tfor " + rcpt + "; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "gmx":
		b.WriteString("Received: from mail.sender.example (EHLO " + helo + ") [" + borderClient + "]\r\n" +
			"\tby border.local.example (mp033) with SMTP; 01 Dec 2025 10:00:00 +0100\r\n")
	case "momentum":
		b.WriteString("Received: from ([" + borderClient + ":50387] helo=" + helo + ")\r\n" +
			"\tby border.local.example (ecelerity 2.1.1.3 r(11743)) with ESMTP id 80/0A\r\n" +
			"\tfor <" + rcpt + ">; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "mdaemon":
		b.WriteString("Received: from " + helo + " [" + borderClient + "] by border.local.example [10.0.0.1] with SMTP (MDaemon.PRO.v5.0.6.R)\r\n" +
			"\tfor <" + rcpt + ">; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "exim 3":
		b.WriteString("Received: from mail.sender.example (" + helo + ") [" + borderClient + ".13219] (ident)\r\n" +
			"\tby border.local.example with esmtp (Exim 3.35 #1 (Debian)) id 1CO5y7-0001vC-00\r\n" +
			"\tfor " + rcpt + "; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "exim 3 ident":
		// The ident string (RFC 1413) comes from the client's host too.
		b.WriteString("Received: from mail.sender.example (mail.sender.example) [" + borderClient + ".13219] (" + helo + ")\r\n" +
			"\tby border.local.example with esmtp (Exim 3.35 #1 (Debian)) id 1CO5y7-0001vC-00\r\n" +
			"\tfor " + rcpt + "; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "navgw":
		b.WriteString("Received: (from " + helo + " [" + borderClient + "]) by border.local.example (NAVGW 2.5.2.12) with SMTP id M1\r\n" +
			"\tfor <" + rcpt + ">; Tue, 04 Apr 2006 15:28:45 +0100\r\n")
	case "claiming":
		b.WriteString("Received: from mail.sender.example(" + borderClient + "), claiming to be \"" + helo + "\"\r\n" +
			"\tvia SMTP by border.local.example, id smtpd1PBsZT; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	case "qmail":
		b.WriteString("Received: from unknown (HELO " + helo + ") (" + borderClient + ")\r\n" +
			"\tby border.local.example with SMTP; 1 Dec 2025 10:00:00 -0000\r\n")
	case "xmail":
		b.WriteString("Received: from " + helo + " (" + borderClient + ":23198) by border.local.example with [XMail 1.20 ESMTP Server]\r\n" +
			"\tid <S72E> for <" + rcpt + "> from <a@sender.example>; Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	default:
		panic(layout)
	}
	b.WriteString(tail)
	b.WriteString(forgedBelow)
	return msg(b.String())
}

// TestBorderParenHELO: a HELO name with parentheses, written verbatim by
// the border, does not make the border's own field look like one from a
// trusted hop (so that the walk would go on into the fields the client
// forged), nor name an address the client chose.
func TestBorderParenHELO(t *testing.T) {
	want := Hop{IP: netip.MustParseAddr(borderClient), HELO: "x (x [10.1.2.3])"}
	hop, err := Border(strings.NewReader(clientMessage("verbatim", "x (x [10.1.2.3])", "user@local.example", "")), ourNets)
	if err != nil || hop != want {
		t.Errorf("HELO %q: %+v, %v; want %+v", want.HELO, hop, err, want)
	}
	// Which of two outside addresses the border wrote, the field cannot
	// tell: the first comment is the TCP-info unless the HELO holds
	// parentheses, the last one before "by" unless the client
	// certificate's CN does (see TestBorderClientText).
	hop, err = Border(strings.NewReader(clientMessage("verbatim", "evil (evil [198.51.100.99])", "user@local.example", "")), ourNets)
	if err == nil || errors.Is(err, ErrNoHop) {
		t.Errorf("HELO with an outside address: %+v, %v; want an error", hop, err)
	}
}

// TestBorderClientText: whatever the client writes where the border's
// field records its text (HELO name, recipient, sender, certificate CN,
// lines that continue the field), Border names the border's client or
// fails; it never names an address the client chose, never walks on into
// the fields the client forged, and never reports an authenticated
// submission that the border did not record. Where the text leaves one
// reading of the field, it names the client.
func TestBorderClientText(t *testing.T) {
	const (
		helo = "mail.sender.example"
		rcpt = "user@local.example"
	)
	for _, c := range []struct {
		name                     string
		layout, helo, rcpt, tail string
		ok                       bool   // Border names borderClient (else: an error)
		wantHELO                 string // if not ""
	}{
		{"plain", "verbatim", helo, rcpt, "", true, helo},
		{"paren HELO, trusted address", "verbatim", "x (x [10.1.2.3])", rcpt, "", true, "x (x [10.1.2.3])"},
		{"paren HELO, loopback", "verbatim", "x (localhost [127.0.0.1])", rcpt, "", true, ""},
		{"paren HELO, the client's own address", "verbatim", "x (x [203.0.113.5])", rcpt, "", true, ""},
		{"paren HELO, outside address", "verbatim", "x (x [198.51.100.1])", rcpt, "", false, ""},
		{"paren HELO, Exchange form", "verbatim", "x (10.1.2.3)", rcpt, "", true, ""},
		{"paren HELO, qmail form", "verbatim", "x (HELO y) (10.1.2.3)", rcpt, "", true, ""},
		{"paren HELO, Exim form", "verbatim", "x ([10.1.2.3]:25 helo=x)", rcpt, "", true, ""},
		{"paren HELO, unclosed", "verbatim", "x (x [10.1.2.3]", rcpt, "", true, ""},
		{"paren HELO, unopened", "verbatim", "a) (b [10.1.2.3]", rcpt, "", true, ""},
		{"paren HELO, nested", "verbatim", "x ((y [10.1.2.3]))", rcpt, "", true, ""},
		{"paren HELO, several comments", "verbatim", "a (b) (c [10.1.2.3]) (d)", rcpt, "", true, ""},
		{"paren HELO, escaped", "verbatim", `x (x \) [10.1.2.3])`, rcpt, "", true, ""},
		{"lone (", "verbatim", "(", rcpt, "", true, "("},
		{"lone )", "verbatim", ")", rcpt, "", true, ")"},
		{"by in HELO", "verbatim", "x (x [10.1.2.3]) by y", rcpt, "", true, "x (x [10.1.2.3]) by y"},
		{"by in HELO, one line", "one line", "x (x [10.1.2.3]) by y", rcpt, "", true, ""},
		{"by and two words in HELO", "verbatim", "x (x [10.1.2.3]) by y z", rcpt, "", false, ""},
		{"by in HELO, outside address", "verbatim", "x (x [198.51.100.1]) by y", rcpt, "", false, ""},
		{"whole field in HELO", "verbatim", "x (x [10.1.2.3]) by border.local.example (Postfix) with ESMTP id 1 for <a@b>; Mon, 1 Dec 2025 10:00:00 +0000", rcpt, "", false, ""},
		{"whole field in HELO, one line", "one line", "x (x [10.1.2.3]) by border.local.example (Postfix) with ESMTP id 1 for <a@b>; Mon, 1 Dec 2025 10:00:00 +0000", rcpt, "", false, ""},
		{"by before paren HELO", "verbatim", "x by y (x [10.1.2.3])", rcpt, "", true, ""},
		{"semicolon before paren HELO", "verbatim", "x; (x [10.1.2.3])", rcpt, "", true, "x; (x [10.1.2.3])"},
		{"literal and by in HELO", "verbatim", "[127.0.0.1] by x", rcpt, "", true, "[127.0.0.1]"},
		{"literal, by and paren in HELO", "verbatim", "[10.1.2.3] by x (x [10.1.2.3])", rcpt, "", false, ""},
		{"auth in HELO", "verbatim", "x (x [10.1.2.3]) by y with ESMTPSA", rcpt, "", false, ""},
		{"auth in HELO, no paren", "verbatim", "x with ESMTPSA by y", rcpt, "", true, ""},

		{"recipient with paren and by", "verbatim", helo, `"(x [10.1.2.3]) by y"@local.example`, "", true, helo},
		{"recipient with unbalanced paren and by", "verbatim", helo, `"a) (x [10.1.2.3]) by ("@local.example`, "", true, helo},
		{"recipient with paren, by and a loopback address", "one line", helo, `"(x [127.0.0.1]) by y"@local.example`, "", true, helo},
		// Our filter's field records the recipient too; an outside
		// address there could be its client as well as our border.
		{"recipient with paren, by and outside address", "verbatim", helo, `"(x [198.51.100.1]) by y"@local.example`, "", false, ""},
		{"recipient with auth", "verbatim", helo, `"x with ESMTPSA"@local.example`, "", true, helo},
		{"sender with paren and by", "exim", `"(x [10.1.2.3]) by y"@sender.example`, rcpt, "", true, helo},
		{"sender with outside address", "exim", `"a) (x [198.51.100.1]) by ("@sender.example`, rcpt, "", false, ""},

		{"CN with paren and by", "client CN", "x) (y [10.1.2.3]) by (", rcpt, "", true, ""},
		{"CN with paren", "client CN", "x) (y [10.1.2.3]) (", rcpt, "", true, ""},
		{"CN with outside address", "client CN", "x) (y [198.51.100.1]) by (", rcpt, "", false, ""},
		{"CN with auth", "client CN", "x) with ESMTPSA (", rcpt, "", true, ""},

		// A bare CR ends a line to a mail reader, and to Border: the part
		// of the field before it must not be walked past.
		{"bare CR in HELO", "verbatim", "x (x [10.1.2.3])\rX-A: b", rcpt, "", false, ""},
		{"bare CR in HELO, one line", "one line", "x (x [10.1.2.3]) by y; Mon, 1 Dec 2025 10:00:00 +0000\rX-A: b", rcpt, "", false, ""},
		{"bare CR in recipient", "one line", helo, "a@b\rX-A: b", "", false, ""},
		{"data continues the field", "verbatim", helo, rcpt, "\t(x [198.51.100.1]) by y with ESMTPSA; Mon, 1 Dec 2025 09:00:00 +0000\r\n", true, helo},
		{"data continues the field with a forged one", "one line", helo, rcpt, "\tZ;e Received: from evil (evil [198.51.100.1]) by x; Mon, 1 Dec 2025 09:00:00 +0000\r\n", true, helo},
		{"data continues the field, trusted", "verbatim", helo, rcpt, " from folded.example ([10.1.2.6])\r\n", true, helo},
	} {
		hop, err := Border(strings.NewReader(clientMessage(c.layout, c.helo, c.rcpt, c.tail)), ourNets)
		switch {
		case err != nil && (c.ok || errors.Is(err, ErrNoHop)):
			t.Errorf("%s: %v; want %s", c.name, err, borderClient)
		case err == nil && (!c.ok || hop.IP != netip.MustParseAddr(borderClient) || hop.Auth):
			t.Errorf("%s: got %+v; want %s", c.name, hop, map[bool]string{true: borderClient + ", not Auth", false: "an error"}[c.ok])
		case err == nil && c.wantHELO != "" && hop.HELO != c.wantHELO:
			t.Errorf("%s: HELO %q, want %q", c.name, hop.HELO, c.wantHELO)
		}
	}
}

// TestBorderClientTextDialects: the property of TestBorderClientText in
// the other dialects Border reads, with client text where each writes
// the HELO name: a benign name gives the client; hostile ones give the
// client or an error.
func TestBorderClientTextDialects(t *testing.T) {
	hostile := []string{
		"x) (y [10.1.2.3]", "x) (y [198.51.100.1]", "[10.1.2.3]", "[198.51.100.1]", "10.1.2.3",
		"[10.1.2.3]) (y [10.1.2.3]) by (", "x [10.1.2.3] by y", "x ( (y [198.51.100.1]) by z",
		"x ( (y [10.1.2.3]) by z", "(", ")", "x) by y (z [10.1.2.3]", "HELO [10.1.2.3]", "x helo=[10.1.2.3]",
		"x) [10.1.2.3] by y (", "x) (account [10.1.2.3]", "x; Mon, 1 Dec 2025 10:00:00 +0000",
		"[10.1.2.3] (HELO", "x) (HELO [198.51.100.1]) (z [10.1.2.3]", "claiming to be [10.1.2.3]",
		"[0.0.0.1] BY", "x by", "x) by (", "x (y [10.1.2.3])", "x [10.1.2.3]", "[10.1.2.3] by y",
		"x\" (y [10.1.2.3]) by z \"", "x) by y", "x) by y; Mon, 1 Dec 2025 10:00:00 +0000", "x [10.1.2.3] by y", "x [10.1.2.3]) (y", "x [10.1.2.3]) by y (z",
	}
	for _, layout := range []string{"communigate", "communigate account", "gmx", "momentum", "mdaemon", "exim 3", "qmail", "xmail", "exim 3 ident", "navgw", "claiming"} {
		hop, err := Border(strings.NewReader(clientMessage(layout, "mail.sender.example", "user@local.example", "")), ourNets)
		if err != nil || hop.IP != netip.MustParseAddr(borderClient) || hop.Auth {
			t.Errorf("%s, benign HELO: %+v, %v; want %s", layout, hop, err, borderClient)
		}
		for _, helo := range hostile {
			hop, err := Border(strings.NewReader(clientMessage(layout, helo, "user@local.example", "")), ourNets)
			if err == nil && (hop.IP != netip.MustParseAddr(borderClient) || hop.Auth) || errors.Is(err, ErrNoHop) {
				t.Errorf("%s, HELO %q: %+v, %v; want %s or an error", layout, helo, hop, err, borderClient)
			}
		}
	}
}

// FuzzBorderClientText: the property of TestBorderClientText for any
// HELO name, recipient and data the client chooses.
func FuzzBorderClientText(f *testing.F) {
	f.Add(uint8(0), "x (x [10.1.2.3])", "user@local.example", "")
	f.Add(uint8(0), "x (x [10.1.2.3]) by y", "user@local.example", "")
	f.Add(uint8(1), "a) (b [10.1.2.3]", `"(x [10.1.2.3]) by y"@local.example`, "")
	f.Add(uint8(2), "x) (y [10.1.2.3]) by (", "user@local.example", "")
	f.Add(uint8(3), `"(x [10.1.2.3]) by y"@sender.example`, "user@local.example", "\t(x [10.1.2.4]) by y; Mon, 1 Dec 2025 09:00:00 +0000\r\n")
	f.Add(uint8(0), "[127.0.0.1] by x", "a@b", " (x [127.0.0.1])\r\n")
	f.Add(uint8(0), "x (x [10.1.2.3])\rX-A: b", "a@b", "")
	f.Add(uint8(1), "x", "a@b\r(x [10.1.2.3]) by y", "")
	for layout := uint8(4); layout < 15; layout++ {
		f.Add(layout, "x) (y [10.1.2.3]", "user@local.example", "")
		f.Add(layout, "[10.1.2.3]) (y [10.1.2.3]) by (", "user@local.example", "")
		f.Add(layout, "x [10.1.2.3] by y", "user@local.example", "")
		f.Add(layout, "x ( (y [198.51.100.1]) by z", "user@local.example", "")
	}
	layouts := []string{"verbatim", "one line", "client CN", "exim", "communigate", "communigate account", "gmx", "momentum", "mdaemon", "exim 3", "qmail", "xmail", "exim 3 ident", "navgw", "claiming"}
	f.Fuzz(func(t *testing.T, layout uint8, helo, rcpt, tail string) {
		// An SMTP command ends at CRLF (RFC 5321 §2.3.8); a lenient server
		// keeps a bare CR inside it, which mail readers take as a line end.
		if strings.Contains(helo+rcpt, "\n") {
			return
		}
		hop, err := Border(strings.NewReader(clientMessage(layouts[int(layout)%len(layouts)], helo, rcpt, tail)), ourNets)
		if err == nil && (hop.IP != netip.MustParseAddr(borderClient) || hop.Auth) || errors.Is(err, ErrNoHop) {
			t.Fatalf("got %+v, %v; want %s, not Auth, or an error", hop, err, borderClient)
		}
	})
}

func BenchmarkBorder(b *testing.B) {
	for _, c := range []struct{ name, message string }{
		{"two hops", clientMessage("verbatim", "mail.sender.example", "user@local.example", "")},
		{"paren HELO", clientMessage("verbatim", "x (x [10.1.2.3]) by y", "user@local.example", "")},
		{"nested parens", msg("Received: from " + strings.Repeat("(", 10000) + " (x [203.0.113.5]) by x;\r\n")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Border(strings.NewReader(c.message), ourNets); err != nil && c.name != "nested parens" {
					b.Fatal(err)
				}
			}
		})
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzBorder: whatever the header, Border does not panic, returns an
// address outside the trusted networks or an error, and fields below the
// hop it returns never change its answer.
func FuzzBorder(f *testing.F) {
	f.Add(ourHop, forged)
	f.Add("Received: from [127.0.0.1] by x (unknown [203.0.113.5])\r\n\tby b;\r\n", "Received: from x (x [10.0.0.2]) by y;\r\n")
	f.Add("Received: from a ([10.0.0.1]:25 helo=x) by b;\r\n", "")
	f.Add("Received: from unknown (HELO x) (10.0.0.3) by b;\r\n", "X: y\r\n\r\n")
	f.Add("Received: (qmail 1 invoked from network); x\r\nReceived: by h (Postfix);\r\n", "Received: from h ([10.0.0.1])\r\n")
	f.Add("Received: from EX (10.1.1.1) by EX2 (10.1.1.2) with Microsoft SMTP Server;\r\n", "")
	f.Add("Received: from x (x [10.1.2.3]) (y [203.0.113.5]) by b; Mon, 1 Dec 2025 10:00:00 +0000\r\n", "\t(z [198.51.100.1]) by c;\r\n")
	f.Add("Received: from x (x [10.1.2.3]) by y (y [203.0.113.5]) by b with ESMTPSA;\r\n", forged)
	f.Add("Received: from [203.0.113.5] (account a@b HELO [10.0.0.1]) by b with ESMTPSA; Mon, 1 Dec 2025 10:00:00 +0000\r\n", forged)
	f.Add("Received: (from KRYPTIK [203.0.113.5]) by host (NAVGW 2.5.2.12) with SMTP id M1;\r\n", forged)
	f.Add("Received: from  ([203.0.113.5:50387] helo=x) by b (ecelerity) with ESMTP;\r\n", "")
	f.Add("Received: from a (b) [203.0.113.5.13219] (ident) by b with esmtp;\r\n", forged)
	f.Add("Received: from a (EHLO b) [203.0.113.5] by c (mp033) with SMTP;\r\n", "")
	f.Add("Received: from a [203.0.113.5] by b [10.0.0.1] with SMTP;\r\n", forged)
	f.Add("Received: from 10.0.0.5 by b with HTTP;\r\nReceived: from a(203.0.113.5), claiming to be \"x\" via SMTP by b, id 1;\r\n", "")
	f.Fuzz(func(t *testing.T, above, below string) {
		hop, err := Border(strings.NewReader(above), ourNets)
		if err == nil && (!hop.IP.IsValid() || hop.IP.IsLoopback() || netset.New(ourNets).Contains(hop.IP) || hop.IP.Is4In6() || hop.IP.Zone() != "") {
			t.Fatalf("Border returned trusted or invalid %v", hop.IP)
		}
		if err != nil {
			return
		}
		// Border stopped at a field in above; whatever follows that field
		// was written by the untrusted side. Cut above after the field (at
		// the first line end where the cut alone gives the same answer and
		// the next line does not continue the field) and append below:
		// the answer must not change.
		if below != "" && (below[0] == ' ' || below[0] == '\t') {
			return // that would extend the hop's own field
		}
		for i := 0; i < len(above); i++ {
			if above[i] != '\n' || i+1 < len(above) && (above[i+1] == ' ' || above[i+1] == '\t') {
				continue
			}
			head := above[:i+1]
			if h2, err2 := Border(strings.NewReader(head), ourNets); err2 != nil || h2 != hop {
				continue
			}
			if h3, err3 := Border(strings.NewReader(head+below), ourNets); err3 != nil || h3 != hop {
				t.Fatalf("fields below the hop changed the answer: %+v, %v; want %+v", h3, err3, hop)
			}
			return
		}
	})
}

// TestBorderHostileShapes: fields of up to the header's 1 MiB built to
// make the reader quadratic are read in well under the bound.
func TestBorderHostileShapes(t *testing.T) {
	bound := 5 * time.Second
	if raceEnabled {
		bound *= 20 // the race detector slows the allocations down most
	}
	for name, f := range map[string]string{
		"addr comments":            "from h " + strings.Repeat("([10.1.2.3]) ", 70000) + "by x;",
		"addr comments then plain": "from h " + strings.Repeat("([10.1.2.3]) (c) ", 40000) + "by x;",
		"plain then addr":          "from h ([10.1.2.3]) " + strings.Repeat("(c) ", 150000) + "with x;",
		"words":                    "from h " + strings.Repeat("[10.1.2.3] ", 80000) + "by x;",
		"by words":                 "from h " + strings.Repeat("[10.1.2.3] by ", 60000) + "by x;",
		"nested":                   "from h " + strings.Repeat("(", 300000) + "by x;",
		"closed nested":            "from h " + strings.Repeat("(", 150000) + "[10.1.2.3]" + strings.Repeat(")", 150000) + " by x;",
		"comment lead":             strings.Repeat("(from a [10.1.2.3]) ", 50000) + "by x;",
		"HELO comments":            "from h " + strings.Repeat("(HELO [10.1.2.3]) ", 50000) + "by x;",
	} {
		start := time.Now()
		_, err := Border(strings.NewReader("Received: "+f+"\r\n\r\n"), ourNets)
		if el := time.Since(start); el > bound {
			t.Errorf("%s: %v (%v)", name, el, err)
		}
	}
}
