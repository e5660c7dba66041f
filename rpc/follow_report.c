/* follow_report.c - how the follower reports trouble: node reachability
 * goes to the node watch (node_watch.c logs node_unreachable /
 * node_reachable, for the follower's calls and its own polls alike), and
 * errors (rpc_error, consumer_error) are logged here, each once per state
 * change rather than once per retry.
 */
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "follow_priv.h"

static bool is_conn_error(int rc)
{
	return rc == SD_ECONN || rc == SD_ETIMEOUT;
}

static void set_reachable(struct rpc_follower *f, bool up)
{
	pthread_mutex_lock(&f->smu);
	f->st.node_reachable = up;
	pthread_mutex_unlock(&f->smu);
}

void rpc_follow_note_node_ok(struct rpc_follower *f,
			 const struct rpc_chain_info *ci)
{
	rpc_node_watch_note_up(f->watch, ci);
	if (f->node_state == NODE_UP)
		return;
	f->node_state = NODE_UP;
	f->logged_rc = 0;
	f->logged_where = NULL;
	set_reachable(f, true);
}

void rpc_follow_note_error(struct rpc_follower *f, int rc, uint64_t retry_ms)
{
	const char *where = f->err_where ? f->err_where : "unknown";
	bool consumer = strncmp(where, "consumer", 8) == 0;
	char eq[64];

	if (!consumer && is_conn_error(rc)) {
		rpc_node_watch_note_down(f->watch, where, rc, retry_ms);
		f->node_state = NODE_DOWN;
		set_reachable(f, false);
		return;
	}
	if (rc == f->logged_rc && f->logged_where &&
	    strcmp(where, f->logged_where) == 0)
		return;
	f->logged_rc = rc;
	f->logged_where = where;
	if (consumer)
		sd_log_error("rpc", "consumer_error",
			     "where=%s err=%s retry_ms=%llu", where,
			     sd_log_q(eq, sizeof(eq), sd_strerror(rc)),
			     (unsigned long long)retry_ms);
	else
		sd_log_warn("rpc", "rpc_error", "where=%s err=%s retry_ms=%llu",
			    where, sd_log_q(eq, sizeof(eq), sd_strerror(rc)),
			    (unsigned long long)retry_ms);
}

int rpc_follow_fail(struct rpc_follower *f, const char *where, int rc)
{
	f->err_where = where;
	f->err_rc = rc;
	return rc;
}
