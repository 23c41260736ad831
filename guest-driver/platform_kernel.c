// SPDX-License-Identifier: GPL-2.0
/* Kernel services behind core/platform.h: randomness, backoff, ticker. */
#include <linux/delay.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/workqueue.h>

#include "../core/platform.h"

void ivshm_random_bytes(void *buf, size_t n)
{
	get_random_bytes(buf, n);
}

/* Waiting on another VM: spin briefly, then sleep (never in atomic ctx). */
void ivshm_backoff(unsigned int attempt)
{
	if (attempt < 64)
		cpu_relax();
	else if (attempt < 128)
		cond_resched();
	else
		usleep_range(50, attempt < 256 ? 100 : 1000);
}

struct ivshm_ticker {
	struct delayed_work work;
	void (*fn)(void *);
	void *arg;
	unsigned long period;
};

static void ticker_run(struct work_struct *w)
{
	struct ivshm_ticker *t = container_of(to_delayed_work(w),
					      struct ivshm_ticker, work);

	t->fn(t->arg);
	schedule_delayed_work(&t->work, t->period);
}

struct ivshm_ticker *ivshm_ticker_start(void (*fn)(void *), void *arg,
					unsigned int period_ms)
{
	struct ivshm_ticker *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->period = msecs_to_jiffies(period_ms);
	INIT_DELAYED_WORK(&t->work, ticker_run);
	schedule_delayed_work(&t->work, 0);
	return t;
}

void ivshm_ticker_stop(struct ivshm_ticker *t)
{
	if (!t)
		return;
	cancel_delayed_work_sync(&t->work);
	kfree(t);
}
