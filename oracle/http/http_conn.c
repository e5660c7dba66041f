/* http_conn.c - every open connection (MHD_OPTION_NOTIFY_CONNECTION) and
 * a total deadline for receiving a request.  libmicrohttpd's timeout
 * counts idle time only: a client sending a header byte every few seconds
 * would hold its connection for ever.  Here a request's headers and body
 * must arrive within deadline_s of the connection's start (or of the
 * previous answer on a keep-alive connection); a reaper thread shuts the
 * socket down otherwise, and libmicrohttpd then closes the connection on
 * its own thread.  From the complete request to the end of its answer
 * (including a suspended /forward-tx) no deadline applies.
 *
 * The socket is shut down under the registry mutex, and libmicrohttpd
 * calls the CLOSED notification (which takes that mutex) before it closes
 * the descriptor: the reaper never touches a reused descriptor.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "http_int.h"

#define REAP_EVERY_MS 250

struct http_conn {
	struct http_conns *cs;
	struct MHD_Connection *con;
	int fd;
	uint64_t since_ns;     /* this request's clock started */
	bool busy, reaped;
	struct http_conn *prev, *next;
};

struct http_conns {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_conn *head;
	struct http_metrics *m;
	uint64_t deadline_ns;
	bool stop, running;
	pthread_t th;
};

static void *reaper_main(void *p)
{
	struct http_conns *cs = p;

	pthread_mutex_lock(&cs->mu);
	while (!cs->stop) {
		struct timespec ts;
		uint64_t now = sd_mono_ns();

		for (struct http_conn *c = cs->head; c; c = c->next) {
			if (c->busy || c->reaped || c->fd < 0 ||
			    now - c->since_ns < cs->deadline_ns)
				continue;
			c->reaped = true;
			shutdown(c->fd, SHUT_RDWR);
			atomic_fetch_add_explicit(&cs->m->deadline_closed, 1,
						  memory_order_relaxed);
			sd_log_debug("http", "request_deadline", "fd=%d s=%.1f",
				     c->fd, (double)(now - c->since_ns) / 1e9);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += REAP_EVERY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cs->cv, &cs->mu, &ts);
	}
	pthread_mutex_unlock(&cs->mu);
	return NULL;
}

struct http_conns *http_conns_new(struct http_metrics *m, unsigned deadline_s)
{
	struct http_conns *cs = sd_xcalloc(1, sizeof(*cs));

	pthread_mutex_init(&cs->mu, NULL);
	pthread_cond_init(&cs->cv, NULL);
	cs->m = m;
	cs->deadline_ns = (uint64_t)deadline_s * 1000000000ull;
	if (pthread_create(&cs->th, NULL, reaper_main, cs) == 0)
		cs->running = true;
	else
		sd_log_warn("http", "reaper_failed", "note=no_request_deadline");
	return cs;
}

void http_conns_free(struct http_conns *cs)
{
	if (!cs)
		return;
	pthread_mutex_lock(&cs->mu);
	cs->stop = true;
	pthread_cond_signal(&cs->cv);
	pthread_mutex_unlock(&cs->mu);
	if (cs->running)
		pthread_join(cs->th, NULL);
	while (cs->head) {  /* none once MHD stopped; just in case */
		struct http_conn *c = cs->head;

		cs->head = c->next;
		free(c);
	}
	pthread_cond_destroy(&cs->cv);
	pthread_mutex_destroy(&cs->mu);
	free(cs);
}

void http_conns_notify(void *cls, struct MHD_Connection *con,
		       void **socket_context,
		       enum MHD_ConnectionNotificationCode toe)
{
	struct http_conns *cs = cls;
	struct http_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			con, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = sd_xcalloc(1, sizeof(*c));
		c->cs = cs;
		c->con = con;
		c->fd = ci ? (int)ci->connect_fd : -1;
		c->since_ns = sd_mono_ns();
		pthread_mutex_lock(&cs->mu);
		c->next = cs->head;
		if (cs->head)
			cs->head->prev = c;
		cs->head = c;
		pthread_mutex_unlock(&cs->mu);
		*socket_context = c;
		return;
	}
	c = *socket_context;
	if (!c)
		return;
	pthread_mutex_lock(&cs->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->fd = -1;
	pthread_mutex_unlock(&cs->mu);
	free(c);
	*socket_context = NULL;
}

void http_conns_busy(struct MHD_Connection *con, bool busy)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *c = ci ? ci->socket_context : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&c->cs->mu);
	c->busy = busy;
	if (!busy)
		c->since_ns = sd_mono_ns();
	pthread_mutex_unlock(&c->cs->mu);
}
