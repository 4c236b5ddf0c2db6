/*  =========================================================================
    mdp - the Majordomo Protocol, MDP/0.1 (ZeroMQ RFC 7) and MMI (RFC 8)

    The names below are the spec's. A client sends, through a DEALER,
    [empty] [MDPC01] [service] [body]; the broker answers the same shape.
    A worker talks [empty] [MDPW01] [command] ...:
      READY      [service]
      REQUEST    [client address] [empty] [body]        broker -> worker
      REPLY      [client address] [empty] [body]        worker -> broker
      HEARTBEAT
      DISCONNECT
    The body is one envelope frame (see envelope.h).
    =========================================================================
*/
#ifndef COMPTOIR_MDP_H
#define COMPTOIR_MDP_H

#define MDPC_CLIENT "MDPC01"
#define MDPW_WORKER "MDPW01"

#define MDPW_READY      "\001"
#define MDPW_REQUEST    "\002"
#define MDPW_REPLY      "\003"
#define MDPW_HEARTBEAT  "\004"
#define MDPW_DISCONNECT "\005"

#define MDP_MMI_PREFIX   "mmi."
#define MDP_MMI_SERVICE  "mmi.service"     //  RFC 8: "200" when the service has workers, "404" otherwise
#define MDP_MMI_STATUS   "mmi.status"      //  ours: the broker's whole view, as an envelope body
#define MDP_MMI_METRICS  "mmi.metrics"     //  ours: the broker's metrics, Prometheus text in body.text
//  ours: the broker's socket events after seq "since" ({since: N}; a raw body
//  is N in decimal), oldest first, from a ring of the last 1,000:
//  {events: [{seq, at (ms since the epoch), kind, address, key?, detail}],
//   first (oldest kept), last (newest)}. kind is accepted, disconnected,
//  handshake_succeeded, handshake_failed_no_detail, handshake_failed_protocol,
//  handshake_failed_auth, zap_allowed, zap_denied (key: the client's public
//  key), accept_failed, closed, and worker_ready / worker_left (the broker's
//  own: address is the worker's IP, detail its identity, service and why it
//  left). A gap (since + 1 < first) means events lost.
#define MDP_MMI_EVENTS   "mmi.events"

//  Defaults: a killed worker is noticed within about a second.
#define MDP_HEARTBEAT_MS_DEFAULT  250
#define MDP_LIVENESS_DEFAULT      4
#define MDP_RECONNECT_MS_DEFAULT  250
#define MDP_RECONNECT_MAX_MS      4000

#endif
