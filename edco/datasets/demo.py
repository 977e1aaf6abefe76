"""Built-in demo task: pick the root cause of a network fault from multi-vendor device logs.

Why this exists: the EDCO paper's headline domain is network operations ("Datacom": read
device logs, choose the root cause). Real operator logs are private, so a laptop user could
not otherwise try the whole curriculum offline. This module fabricates a task of the same
shape (short syslog excerpts in Huawei VRP, Cisco IOS and Juniper Junos dialects, four
root-cause choices) from the standard library alone, deterministically from a seed, small
enough for a 2-core CPU.

Difficulty varies per item without being stored: benign noise lines are mixed in, some
items show only symptoms (never the explicit cause alarm), and distractors are drawn from
closely related faults. Faults, events and dialects are data tables below; adding a vendor
means adding one template per event, adding a fault means adding one table entry.

Item i depends only on (seed, split, i), so any prefix of a split is stable. Eval items use
other site codes, another address range and other months than pool items, so no eval
question can ever equal a pool question.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal, TypedDict, TypeVar

_T = TypeVar("_T")

POOL_SIZE = 2000
EVAL_SIZE = 300
_MAX_QUESTION_CHARS = 700

_QUESTION = "What is the most likely root cause?"

# Per-dialect rendering. `line` wraps an event body; {ts} comes from `ts`.
_VENDORS: dict[str, dict[str, str]] = {
    "huawei_vrp": {
        "display": "Huawei VRP",
        "role": "CE",
        "ts": "{mon} {day:>2} {hms} {year}",
        "line": "{ts} {host} {body}",
        "intf": "GE1/0/{}",
        "sintf": "GE1/0/{}",
        "lag": "Eth-Trunk{}",
        "mac": "{0:02x}{1:02x}-{2:02x}{3:02x}-{4:02x}{5:02x}",
    },
    "cisco_ios": {
        "display": "Cisco IOS",
        "role": "C9K",
        "ts": "{mon} {day:>2} {hms}.{ms:03d}",
        "line": "*{ts}: {body}",
        "intf": "GigabitEthernet1/0/{}",
        "sintf": "Gi1/0/{}",
        "lag": "Port-channel{}",
        "mac": "{0:02x}{1:02x}.{2:02x}{3:02x}.{4:02x}{5:02x}",
    },
    "juniper_junos": {
        "display": "Juniper Junos",
        "role": "MX",
        "ts": "{mon} {day:>2} {hms}",
        "line": "{ts} {host} {body}",
        "intf": "xe-0/0/{}",
        "sintf": "xe-0/0/{}",
        "lag": "ae{}",
        "mac": "{0:02x}:{1:02x}:{2:02x}:{3:02x}:{4:02x}:{5:02x}",
    },
}

# Event bodies per dialect. Placeholders are filled from the item's values (see _values).
_EVENTS: dict[str, dict[str, str]] = {
    # --- interfaces and optics
    "link_down": {
        "huawei_vrp": "%%01IFNET/4/LINK_STATE(l)[{seq}]:Line protocol on {intf} went DOWN.",
        "cisco_ios": "%LINK-3-UPDOWN: Interface {intf}, changed state to down",
        "juniper_junos": "mib2d[{pid}]: SNMP_TRAP_LINK_DOWN: ifName {intf}, ifOperStatus down(2)",
    },
    "link_up": {
        "huawei_vrp": "%%01IFNET/4/LINK_STATE(l)[{seq}]:Line protocol on {intf} went UP.",
        "cisco_ios": "%LINK-3-UPDOWN: Interface {intf}, changed state to up",
        "juniper_junos": "mib2d[{pid}]: SNMP_TRAP_LINK_UP: ifName {intf}, ifOperStatus up(1)",
    },
    "crc_errors": {
        "huawei_vrp": "%%01PORT/4/CRC_RISING(t)[{seq}]:{intf} CRC errors {n} in 60s, over threshold.",
        "cisco_ios": "%ETH_PORT-4-CRC_ERRORS: {sintf}: {n} input CRC errors in last 60s",
        "juniper_junos": "dcd[{pid}]: IFD_CRC_ERRORS: {intf}: {n} input CRC errors in 60 seconds",
    },
    "optic_rx_low": {
        "huawei_vrp": "%%01OPTICAL/2/RX_POWER_LOW(t)[{seq}]:{intf} Rx power {rx} dBm < {rx_th} dBm.",
        "cisco_ios": "%SFF8472-5-THRESHOLD_VIOLATION: {sintf}: Rx power low alarm; {rx} < {rx_th} dBm",
        "juniper_junos": "chassisd[{pid}]: XCVR_RX_POWER_LOW: {intf} Rx power {rx} dBm below {rx_th} dBm",
    },
    # --- BGP
    "bgp_hold_expired": {
        "huawei_vrp": "%%01BGP/3/PEER_DOWN(l)[{seq}]:Peer {peer}: hold timer ({hold}s) expired.",
        "cisco_ios": "%BGP-3-NOTIFICATION: sent to neighbor {peer} 4/0 (hold time expired) 0 bytes",
        "juniper_junos": "rpd[{pid}]: bgp_hold_timeout: NOTIFICATION sent to {peer}: code 4 (Hold Timer)",
    },
    "bgp_peer_down": {
        "huawei_vrp": "%%01BGP/3/STATE_CHG(l)[{seq}]:Peer {peer} (AS {asn}) ESTABLISHED -> IDLE.",
        "cisco_ios": "%BGP-5-ADJCHANGE: neighbor {peer} Down BGP Notification sent",
        "juniper_junos": "rpd[{pid}]: BGP_PEER_STATE_CHANGED: {peer} (AS {asn}): Established -> Idle",
    },
    "bgp_no_keepalive": {
        "huawei_vrp": "%%01BGP/4/NO_KEEPALIVE(l)[{seq}]:No KEEPALIVE from peer {peer} for {hold}s.",
        "cisco_ios": "%BGP-4-NOKEEPALIVE: no keepalive from neighbor {peer} for {hold} sec",
        "juniper_junos": "rpd[{pid}]: BGP_NO_KEEPALIVE: last keepalive from {peer} {hold}s ago",
    },
    "bgp_routes_withdrawn": {
        "huawei_vrp": "%%01RM/4/ROUTE_WITHDRAW(l)[{seq}]:{n} routes from peer {peer} withdrawn.",
        "cisco_ios": "%BGP-6-ROUTES_FLUSHED: {n} prefixes from neighbor {peer} removed",
        "juniper_junos": "rpd[{pid}]: BGP_PREFIX_WITHDRAWN: {n} prefixes from {peer} withdrawn",
    },
    # --- OSPF
    "ospf_mtu": {
        "huawei_vrp": "%%01OSPF/4/MTU_MISMATCH(l)[{seq}]:DD from {peer} MTU {mtu2} > local {mtu}.",
        "cisco_ios": "%OSPF-4-MTU_MISMATCH: {sintf}: nbr {peer} DBD MTU {mtu2} > local MTU {mtu}",
        "juniper_junos": "rpd[{pid}]: OSPF_MTU_MISMATCH: {intf} nbr {peer}: DBD MTU {mtu2} != {mtu}",
    },
    "ospf_exstart": {
        "huawei_vrp": "%%01OSPF/4/NBR_STUCK(l)[{seq}]:Nbr {peer} on {intf} stuck in ExStart.",
        "cisco_ios": "%OSPF-5-ADJCHG: Process 1, Nbr {peer} on {sintf} from EXSTART to DOWN",
        "juniper_junos": "rpd[{pid}]: RPD_OSPF_NBRDOWN: nbr {peer} on {intf}: ExStart -> Down",
    },
    "ospf_dbd_retx": {
        "huawei_vrp": "%%01OSPF/6/RETRANS_DD(l)[{seq}]:DD to {peer} retransmitted {n} times.",
        "cisco_ios": "%OSPF-4-RETRANS: DBD to {peer} on {sintf} retransmitted {n} times",
        "juniper_junos": "rpd[{pid}]: OSPF_DBD_RETRANSMIT: DBD to {peer} on {intf} resent {n} times",
    },
    # --- spanning tree
    "stp_loop": {
        "huawei_vrp": "%%01MSTP/4/LOOP_DETECT(t)[{seq}]:{intf} in VLAN {vlan} received its own BPDU.",
        "cisco_ios": "%SPANTREE-2-LOOP_DETECT: VLAN{vlan}: {sintf} received its own BPDU",
        "juniper_junos": "l2cpd[{pid}]: STP_LOOP_DETECTED: VLAN {vlan}: {intf} received own BPDU",
    },
    "mac_flap": {
        "huawei_vrp": "%%01FIB/4/MAC_FLAP(l)[{seq}]:{mac} VLAN {vlan} flaps {intf}<->{intf2}.",
        "cisco_ios": "%SW_MATM-4-MACFLAP_NOTIF: Host {mac} in vlan {vlan} flapping: {sintf}, {sintf2}",
        "juniper_junos": "l2ald[{pid}]: L2ALD_MAC_MOVE: {mac} VLAN {vlan} {intf} <-> {intf2}",
    },
    "bcast_storm": {
        "huawei_vrp": "%%01DEFEND/4/STORM(t)[{seq}]:Broadcast on {intf} at {n}000 pps, over limit.",
        "cisco_ios": "%STORM_CONTROL-3-FILTERED: Broadcast storm on {sintf}, filter applied",
        "juniper_junos": "dcd[{pid}]: STORM_CONTROL_EXCEEDED: broadcast on {intf} at {n}000 pps",
    },
    "stp_tc_flood": {
        "huawei_vrp": "%%01MSTP/6/RECEIVE_TC(l)[{seq}]:{n} TC BPDUs received on {intf} in 10s.",
        "cisco_ios": "%SPANTREE-5-TOPOTRAP: VLAN{vlan}: {n} topology changes in 10s",
        "juniper_junos": "l2cpd[{pid}]: STP_TOPOLOGY_CHANGE: VLAN {vlan}: {n} changes on {intf}",
    },
    # --- link aggregation
    "lacp_mismatch": {
        "huawei_vrp": "%%01LACP/4/MISMATCH(l)[{seq}]:{intf2} in {lag} has a mismatched partner.",
        "cisco_ios": "%EC-5-CANNOT_BUNDLE2: {sintf2} not compatible with {sintf}, suspended (partner)",
        "juniper_junos": "lacpd[{pid}]: LACPD_PARTNER_MISMATCH: {intf2} of {lag} detached",
    },
    "lag_member_down": {
        "huawei_vrp": "%%01LACP/4/MEMBER_DOWN(l)[{seq}]:{intf2} left {lag}.",
        "cisco_ios": "%EC-5-UNBUNDLE: Interface {sintf2} left the port-channel {lag}",
        "juniper_junos": "lacpd[{pid}]: LACP_INTF_DOWN: {lag}: {intf2} removed from bundle",
    },
    "lag_partner_sysid": {
        "huawei_vrp": "%%01LACP/6/PEER_CHG(l)[{seq}]:{intf2} partner {mac2} unlike {lag}.",
        "cisco_ios": "%LACP-5-PARTNER: {sintf2} partner {mac2} differs from {lag} partner",
        "juniper_junos": "lacpd[{pid}]: LACPD_PARTNER: {intf2} partner {mac2} differs from {lag}",
    },
    "lag_bw_reduced": {
        "huawei_vrp": "%%01TRUNK/4/BW_REDUCED(l)[{seq}]:{lag} bandwidth reduced, {n_up}/{n_all} up.",
        "cisco_ios": "%EC-4-BW_DEGRADED: {lag} bandwidth reduced, {n_up}/{n_all} members bundled",
        "juniper_junos": "dcd[{pid}]: AE_BANDWIDTH_DEGRADED: {lag} active links {n_up} of {n_all}",
    },
    # --- power
    "psu_fail": {
        "huawei_vrp": "%%01DEVM/2/POWER_FAIL(t)[{seq}]:Power module PWR{slot} failed, no output.",
        "cisco_ios": "%PLATFORM_ENV-1-PSU_FAIL: Power supply {slot} has failed (no output)",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_PSU_FAILURE: PEM {slot} output failure",
    },
    "psu_redundancy_lost": {
        "huawei_vrp": "%%01DEVM/3/POWER_REDUNDANCY(t)[{seq}]:Power redundancy lost.",
        "cisco_ios": "%PLATFORM_ENV-1-PWR_NONREDUNDANT: Power supply redundancy lost",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_POWER_REDUNDANCY_LOST: power not redundant",
    },
    "psu_voltage": {
        "huawei_vrp": "%%01DEVM/4/VOLT_ABNORMAL(t)[{seq}]:PWR{slot} output {volt}V out of range.",
        "cisco_ios": "%ENVMON-4-VOLT_LOW: PS{slot} output voltage {volt}V below threshold",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_PEM_VOLTAGE: PEM {slot} output {volt}V out of range",
    },
    # --- cooling
    "fan_fail": {
        "huawei_vrp": "%%01DEVM/2/FAN_FAIL(t)[{seq}]:Fan module FAN{fan} failed.",
        "cisco_ios": "%PLATFORM_ENV-1-FAN: Faulty fan {fan} detected",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_FAN_FAILED: Fan Tray {fan} failed",
    },
    "fan_rpm_low": {
        "huawei_vrp": "%%01DEVM/4/FAN_SPEED(t)[{seq}]:FAN{fan} speed {rpm} RPM below minimum 3000.",
        "cisco_ios": "%ENVMON-4-FAN_LOW_RPM: Fan {fan} speed {rpm} RPM below 3000 RPM",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_FAN_LOW_SPEED: Fan Tray {fan} at {rpm} RPM",
    },
    "temp_high": {
        "huawei_vrp": "%%01DEVM/3/TEMP_HIGH(t)[{seq}]:Board temperature {temp}C over threshold {temp_th}C.",
        "cisco_ios": "%ENV_MON-2-TEMP: Chassis temperature {temp}C exceeds threshold {temp_th}C",
        "juniper_junos": "chassisd[{pid}]: CHASSISD_OVER_TEMP: FPC 0 at {temp}C, over {temp_th}C",
    },
    # --- AAA
    "aaa_server_down": {
        "huawei_vrp": "%%01AAA/4/SERVER_DOWN(l)[{seq}]:HWTACACS server {server} unreachable.",
        "cisco_ios": "%AAA-3-SERVER_DOWN: TACACS+ server {server}:49 is not responding",
        "juniper_junos": "mgd[{pid}]: TACPLUS_CONNECT_ERROR: server {server}: connection timed out",
    },
    "ssh_auth_timeout": {
        "huawei_vrp": "%%01SSH/4/AUTH_TIMEOUT(l)[{seq}]:Auth of {user} from {src} timed out.",
        "cisco_ios": "%SEC_LOGIN-4-LOGIN_FAILED: [user: {user}] [Source: {src}] [Reason: timeout]",
        "juniper_junos": "sshd[{pid}]: SSHD_LOGIN_FAILED: {user} from {src}: authentication timeout",
    },
    "login_fallback": {
        "huawei_vrp": "%%01AAA/6/LOCAL_AUTH(l)[{seq}]:User {user} authenticated by local database.",
        "cisco_ios": "%AAA-6-FALLBACK: Authentication for {user} fell back to local database",
        "juniper_junos": "sshd[{pid}]: LOGIN_FALLBACK: {user} authenticated with local password",
    },
    "acct_queued": {
        "huawei_vrp": "%%01AAA/4/ACCT_FAIL(l)[{seq}]:{n} accounting records queued, no server answer.",
        "cisco_ios": "%AAA-4-ACCT_QUEUED: {n} accounting records queued, no server response",
        "juniper_junos": "mgd[{pid}]: ACCT_QUEUED: {n} accounting records pending, no server reply",
    },
    # --- ARP
    "dup_ip": {
        "huawei_vrp": "%%01ARP/4/DUP_IPADDR(t)[{seq}]:Duplicate IP {ip} from {mac2}.",
        "cisco_ios": "%IP-4-DUPADDR: Duplicate address {ip} on Vlan{vlan}, sourced by {mac2}",
        "juniper_junos": "kernel: KERN_ARP_DUPLICATE_ADDR: duplicate IP {ip} from {mac2}",
    },
    "arp_flap": {
        "huawei_vrp": "%%01ARP/4/FLAP(l)[{seq}]:{ip} flaps {mac}<->{mac2}.",
        "cisco_ios": "%ARP-4-MAC_FLAP: ARP entry {ip} flapping {mac} <-> {mac2}",
        "juniper_junos": "kernel: ARP_FLAP: {ip} moves {mac} <-> {mac2}",
    },
    "garp_received": {
        "huawei_vrp": "%%01ARP/6/GARP(l)[{seq}]:Gratuitous ARP for {ip} from {mac2}.",
        "cisco_ios": "%ARP-6-GRATUITOUS: gratuitous ARP for {ip} from {mac2} on Vlan{vlan}",
        "juniper_junos": "kernel: ARP_GRATUITOUS: {ip} announced by {mac2} on {intf}",
    },
    # --- control plane
    "cpu_high": {
        "huawei_vrp": "%%01DEVM/4/CPU_HIGH(t)[{seq}]:CPU usage {cpu}% over 90%; {n}k pps sent to CPU.",
        "cisco_ios": "%SYS-1-CPURISINGTHRESHOLD: Threshold: Total CPU Utilization(Total/Intr): {cpu}%/{cpu_intr}%",
        "juniper_junos": "chassisd[{pid}]: RE_CPU_HIGH: Routing Engine CPU {cpu}% busy, over 90%",
    },
    "copp_drops": {
        "huawei_vrp": "%%01SECE/4/CPCAR_DROP(l)[{seq}]:CPCAR dropped {n}000 ARP packets to CPU.",
        "cisco_ios": "%COPP-4-DROP: control-plane class ARP dropped {n}000 packets",
        "juniper_junos": "jddosd[{pid}]: DDOS_PROTOCOL_VIOLATION_SET: Protocol ARP:aggregate exceeded",
    },
    "bfd_down": {
        "huawei_vrp": "%%01BFD/4/STACHG_TODWN(l)[{seq}]:Session to {peer} Down, detect timeout.",
        "cisco_ios": "%BFD-6-BFD_SESS_DOWN: BFD session to {peer} down, detection timeout",
        "juniper_junos": "bfdd[{pid}]: BFDD_STATE_UP_TO_DOWN: BFD session {peer} Up -> Down",
    },
    # --- benign noise
    "ntp_sync": {
        "huawei_vrp": "%%01NTP/4/STRATUM_CHANGE(l)[{seq}]:Synchronized to NTP server {ntp}.",
        "cisco_ios": "%NTP-5-PEERSYNC: NTP synced to peer {ntp}",
        "juniper_junos": "xntpd[{pid}]: NTP_SYNC: synchronized to {ntp}, stratum 2",
    },
    "ssh_login": {
        "huawei_vrp": "%%01SSH/5/USER_LOGIN(l)[{seq}]:User {admin} logged in from {src}.",
        "cisco_ios": "%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: {admin}] [Source: {src}]",
        "juniper_junos": "sshd[{pid}]: SSHD_LOGIN_SUCCESS: user {admin} from {src}",
    },
    "config_saved": {
        "huawei_vrp": "%%01CFM/4/SAVE(l)[{seq}]:Configuration saved by user {admin}.",
        "cisco_ios": "%SYS-5-CONFIG_I: Configured from console by {admin} on vty0 ({src})",
        "juniper_junos": "mgd[{pid}]: UI_COMMIT: User '{admin}' requested 'commit' operation",
    },
    "lldp_neighbor": {
        "huawei_vrp": "%%01LLDP/4/NEWNEIGHBOR(t)[{seq}]:New LLDP neighbor {nbr} on {intf3}.",
        "cisco_ios": "%LLDP-6-NEIGHBOR_ADD: LLDP neighbor {nbr} added on {sintf3}",
        "juniper_junos": "lldpd[{pid}]: LLDP_NEIGHBOR_UP: {nbr} on {intf3}",
    },
    "user_logout": {
        "huawei_vrp": "%%01SHELL/5/LOGOUT(l)[{seq}]:User {admin} logged out from {src}.",
        "cisco_ios": "%SEC_LOGIN-5-LOGOUT: User {admin} logged out from {src}",
        "juniper_junos": "sshd[{pid}]: SSHD_LOGOUT: user {admin} from {src} logged out",
    },
}

_NOISE: tuple[str, ...] = ("ntp_sync", "ssh_login", "config_saved", "lldp_neighbor", "user_logout")


class _Fault(TypedDict):
    description: str  # the correct choice
    close: tuple[str, ...]  # same-domain wrong causes, used as hard distractors
    cause: tuple[str, ...]  # events that name the cause explicitly
    symptoms: tuple[str, ...]  # events that point at the cause without naming it


class _Split(TypedDict):
    size: int
    sites: tuple[str, ...]
    octets: tuple[int, int, int]  # first octet, range of the second
    months: tuple[int, int]


_CATEGORIES: dict[str, _Fault] = {
    "bgp_hold_timer_expiry": {
        "description": "BGP hold timer expired because the peer stopped sending keepalives",
        "close": (
            "BGP session rejected because of a peer AS number mismatch",
            "TCP MD5 authentication password mismatch with the BGP peer",
            "BGP peer exceeded the configured maximum-prefix limit",
        ),
        "cause": ("bgp_hold_expired",),
        "symptoms": ("bgp_no_keepalive", "bgp_peer_down", "bgp_routes_withdrawn"),
    },
    "ospf_mtu_mismatch": {
        "description": "Interface MTU mismatch between OSPF neighbors blocks database exchange",
        "close": (
            "OSPF authentication key mismatch between the neighbors",
            "OSPF area ID mismatch on the link",
            "OSPF hello/dead interval mismatch between the neighbors",
        ),
        "cause": ("ospf_mtu",),
        "symptoms": ("ospf_exstart", "ospf_dbd_retx"),
    },
    "optical_rx_power_low": {
        "description": "Optical receive power too low (dirty or degraded fiber/transceiver)",
        "close": (
            "Speed/duplex mismatch between the two link ends",
            "Fiber cut: the receive signal is completely lost",
            "Link flap caused by a port configured with a wrong VLAN",
        ),
        "cause": ("optic_rx_low",),
        "symptoms": ("crc_errors", "link_down", "link_up"),
    },
    "stp_topology_loop": {
        "description": "Layer-2 forwarding loop: a redundant path is not blocked by spanning tree",
        "close": (
            "Broadcast storm from a malfunctioning host NIC",
            "MAC address spoofing by an attacker on an access port",
            "Spanning-tree root bridge priority misconfigured (suboptimal root)",
        ),
        "cause": ("stp_loop",),
        "symptoms": ("mac_flap", "bcast_storm", "stp_tc_flood"),
    },
    "lacp_member_mismatch": {
        "description": "LAG member is cabled to a different partner device than the other members",
        "close": (
            "LAG member speed differs from the other bundle members",
            "LACP is disabled (static mode) on the remote end of the bundle",
            "LACP timeout rate mismatch (fast vs slow) on the bundle",
        ),
        "cause": ("lacp_mismatch",),
        "symptoms": ("lag_partner_sysid", "lag_member_down", "lag_bw_reduced"),
    },
    "power_supply_failure": {
        "description": "A power supply module failed and the chassis lost power redundancy",
        "close": (
            "Upstream PDU breaker tripped on one power feed (PSU itself healthy)",
            "Power module not fully seated in its slot",
            "PoE devices exceeded the chassis power budget",
        ),
        "cause": ("psu_fail",),
        "symptoms": ("psu_voltage", "psu_redundancy_lost"),
    },
    "overtemperature_fan_failure": {
        "description": "A failed fan module causes the chassis to overheat",
        "close": (
            "High ambient temperature in the equipment room (HVAC failure)",
            "Clogged air filter restricting chassis airflow",
            "Faulty temperature sensor reporting false readings",
        ),
        "cause": ("fan_fail",),
        "symptoms": ("fan_rpm_low", "temp_high"),
    },
    "aaa_server_unreachable": {
        "description": "The TACACS+/AAA server is unreachable, so logins time out or fall back",
        "close": (
            "TACACS+ shared secret mismatch between device and server",
            "User account locked out after repeated wrong passwords",
            "SSH host key changed on the device",
        ),
        "cause": ("aaa_server_down",),
        "symptoms": ("ssh_auth_timeout", "login_fallback", "acct_queued"),
    },
    "duplicate_ip_arp_conflict": {
        "description": "Two hosts are configured with the same IP address (ARP conflict)",
        "close": (
            "ARP cache timeout set too low on the gateway",
            "Host NIC was replaced, leaving a stale ARP entry",
            "Proxy ARP misconfiguration answering for remote subnets",
        ),
        "cause": ("dup_ip",),
        "symptoms": ("arp_flap", "garp_received"),
    },
    "cpu_overload_control_plane": {
        "description": "Control-plane CPU overloaded by traffic punted to the CPU",
        "close": (
            "Memory leak in a routing process exhausting RAM",
            "Hardware forwarding table (TCAM) full, traffic software-switched",
            "BFD timers configured too aggressively for the link",
        ),
        "cause": ("cpu_high",),
        "symptoms": ("copp_drops", "bfd_down"),
    },
}

CATEGORIES: tuple[str, ...] = tuple(_CATEGORIES)
VENDORS: tuple[str, ...] = tuple(_VENDORS)

# What keeps eval disjoint from pool: site codes (in every header), address ranges, months.
_SPLITS: dict[str, _Split] = {
    "pool": {
        "size": POOL_SIZE,
        "sites": ("PEK", "SHA", "CAN", "SZX", "CTU", "WUH", "HGH", "NKG"),
        "octets": (10, 0, 255),
        "months": (1, 6),
    },
    "eval": {
        "size": EVAL_SIZE,
        "sites": ("FRA", "AMS", "LHR", "JFK", "SIN", "NRT", "SYD", "GRU"),
        "octets": (172, 16, 31),
        "months": (7, 12),
    },
}

_ADMINS = ("netops", "noc1", "jdoe", "asmith", "admin", "ops2")
_MTUS = (1546, 1600, 9000, 9216)


def _rng(seed: int, split: str, key: str) -> random.Random:
    # String seeds hash through SHA-512: stable across processes and PYTHONHASHSEED.
    return random.Random(f"edco-demo:{seed}:{split}:{key}")


def _block_pick(options: tuple[_T, ...], seed: int, split: str, tag: str, i: int) -> _T:
    """Balanced, prefix-stable choice: each block of len(options) items is a permutation."""
    block, offset = divmod(i, len(options))
    order = list(options)
    _rng(seed, split, f"{tag}:{block}").shuffle(order)
    return order[offset]


def _values(rng: random.Random, vendor: str, split: str) -> dict[str, str | int]:
    """Everything an event template may reference, drawn once per item."""
    fmt, spec = _VENDORS[vendor], _SPLITS[split]
    first, lo, hi = spec["octets"]

    def ip() -> str:
        return f"{first}.{rng.randint(lo, hi)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    def mac() -> str:
        return fmt["mac"].format(0x00, 0xE0, *(rng.randint(0, 255) for _ in range(4)))

    ports = rng.sample(range(1, 49), 3)
    n_all = rng.randint(2, 4)
    return {
        "intf": fmt["intf"].format(ports[0]),
        "intf2": fmt["intf"].format(ports[1]),
        "intf3": fmt["intf"].format(ports[2]),
        "sintf": fmt["sintf"].format(ports[0]),
        "sintf2": fmt["sintf"].format(ports[1]),
        "sintf3": fmt["sintf"].format(ports[2]),
        "lag": fmt["lag"].format(rng.randint(1, 16)),
        "peer": ip(),
        "server": ip(),
        "ntp": ip(),
        "src": ip(),
        "ip": ip(),
        "mac": mac(),
        "mac2": mac(),
        "asn": rng.randint(64512, 65534),
        "hold": rng.choice((90, 180)),
        "vlan": rng.randint(10, 4000),
        "mtu": 1500,
        "mtu2": rng.choice(_MTUS),
        "rx": f"{-rng.uniform(20.0, 30.0):.2f}",
        "rx_th": f"{-rng.uniform(14.0, 19.0):.2f}",
        "n": rng.randint(12, 950),
        "n_all": n_all,
        "n_up": rng.randint(1, n_all - 1),
        "slot": rng.randint(1, 2),
        "volt": f"{rng.uniform(9.5, 10.9):.1f}",
        "fan": rng.randint(1, 4),
        "rpm": rng.randint(0, 1200),
        "temp": rng.randint(68, 88),
        "temp_th": rng.choice((60, 65)),
        "cpu": rng.randint(92, 100),
        "cpu_intr": rng.randint(35, 85),
        "user": rng.choice(_ADMINS),
        "admin": rng.choice(_ADMINS),
        "nbr": f"{rng.choice(spec['sites'])}-AG{rng.randint(1, 99):02d}",
    }


def _evidence(rng: random.Random, category: str) -> list[str]:
    """Event keys in causal order: the explicit cause plus some symptoms, or symptoms only."""
    spec = _CATEGORIES[category]
    symptoms = spec["symptoms"]
    if rng.random() < 0.4:  # indirect: the model must infer the cause from symptoms alone
        return list(symptoms)
    kept = sorted(rng.sample(range(len(symptoms)), rng.randint(1, len(symptoms))))
    return list(spec["cause"]) + [symptoms[k] for k in kept]


def _choices(rng: random.Random, category: str, answer: int) -> list[str]:
    close = list(_CATEGORIES[category]["close"])
    far = [_CATEGORIES[c]["description"] for c in CATEGORIES if c != category]
    n_close = rng.randint(1, 3)
    wrong = rng.sample(close, n_close) + rng.sample(far, 3 - n_close)
    rng.shuffle(wrong)
    wrong.insert(answer, _CATEGORIES[category]["description"])
    return wrong


def _question(rng: random.Random, vendor: str, category: str, split: str) -> tuple[str, list[str]]:
    """The question text, and the time (HH:MM:SS) of each evidence line (the log lines that are not noise)."""
    fmt, spec = _VENDORS[vendor], _SPLITS[split]
    host = f"{rng.choice(spec['sites'])}-{fmt['role']}{rng.randint(1, 99):02d}"
    values = _values(rng, vendor, split)

    events = [(key, False) for key in _evidence(rng, category)]
    for key in rng.sample(_NOISE, rng.randint(0, 4)):
        events.insert(rng.randint(0, len(events)), (key, True))

    lo, hi = spec["months"]
    month, day = rng.randint(lo, hi), rng.randint(1, 28)
    t = datetime(2025, month, day, rng.randint(0, 23), rng.randint(0, 59))
    seq = rng.randint(1, 60)
    lines: list[tuple[str, bool]] = []
    times: list[str] = []
    for k, (key, noise) in enumerate(events):
        t += timedelta(seconds=rng.randint(0, 40))
        ts = fmt["ts"].format(mon=f"{t:%b}", day=t.day, hms=f"{t:%H:%M:%S}", year=t.year, ms=rng.randint(0, 999))
        body = _EVENTS[key][vendor].format(seq=seq + k, pid=rng.randint(1000, 9999), **values)
        lines.append((fmt["line"].format(ts=ts, host=host, body=body), noise))
        times += [] if noise else [f"{t:%H:%M:%S}"]

    header = f"{fmt['display']} device {host} log excerpt:"

    def render() -> str:
        return "\n".join([header, *(line for line, _ in lines), _QUESTION])

    text = render()
    while len(text) > _MAX_QUESTION_CHARS and any(noise for _, noise in lines):
        last_noise = max(k for k, (_, noise) in enumerate(lines) if noise)
        del lines[last_noise]
        text = render()
    return text, times


def generate(split: Literal["pool", "eval"], seed: int = 0, n: int | None = None, kind: str = "choice") -> list[dict]:
    """Return `n` items of the demo split (default POOL_SIZE / EVAL_SIZE), as records of `kind`.

    choice: {"id", "question", "choices": list[str], "answer": int (0-based), "category"}.
    reference: {"id", "question", "reference", "category"}: the question asks for the root cause
    and the log lines that show it, and the reference states both, citing the lines by their time
    (`_reference`).
    chat: {"id", "messages": [user: that question, assistant: that reference], "category"}.
    Item i depends only on (seed, split, i), and is the same fault, logs and answer in every kind.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'pool' or 'eval', got {split!r}")
    if kind not in ("choice", "reference", "chat"):
        raise ValueError(f"kind must be 'choice', 'reference' or 'chat', got {kind!r}")
    count = _SPLITS[split]["size"] if n is None else n
    if count < 0:
        raise ValueError(f"n must be >= 0, got {n}")

    records = []
    for i in range(count):
        rng = _rng(seed, split, f"item:{i}")
        category = _block_pick(CATEGORIES, seed, split, "category", i)
        vendor = _block_pick(VENDORS, seed, split, "vendor", i)
        answer = _block_pick((0, 1, 2, 3), seed, split, "answer", i)
        question, times = _question(rng, vendor, category, split)
        record = {"id": f"{split}-{i:05d}", "question": question, "category": category}
        choices = _choices(rng, category, answer)
        if kind == "choice":
            records.append({**record, "choices": choices, "answer": answer})
            continue
        question = question.removesuffix(_QUESTION) + _FREE_FORM_QUESTION
        reference = _reference(category, times)
        if kind == "reference":
            records.append({**record, "question": question, "reference": reference})
        else:
            turns = [{"role": "user", "content": question}, {"role": "assistant", "content": reference}]
            records.append({"id": record["id"], "messages": turns, "category": category})
    return records


_FREE_FORM_QUESTION = "What is the most likely root cause, and which log lines show it?"


def _reference(category: str, times: list[str]) -> str:
    """The free-form answer: the root cause, then the log lines that show it, cited by their time
    (short, so that a 135M model can learn it in minutes, and checkable against the excerpt)."""
    cited = times[0] if len(times) == 1 else f"{', '.join(times[:-1])} and {times[-1]}"
    lines = "log line" if len(times) == 1 else "log lines"
    return f"{_CATEGORIES[category]['description']}, shown by the {lines} at {cited}."
