/*
 * Creating and destroying an engine instance.
 */
#include "shadow.h"

/* The PAE root page, four roots, and one page per lower level of a walk:
 * fewer pages than this cannot translate a single access. */
#define MIN_POOL_PAGES (1 + PAE_ROOT_ENTRIES + UMBRA_LEVELS_MAX)
#define MIN_MAXPHYADDR 32
#define MAX_MAXPHYADDR 52

static const char *check_args(const struct umbra_env *env,
			      const struct umbra_config *cfg)
{
	if (!env->hpa_to_ptr || !env->alloc_meta || !env->free_meta ||
	    !env->flush_tlb_va || !env->flush_tlb_all)
		return "environment: a required callback is missing";
	if (cfg->pool_pages < MIN_POOL_PAGES)
		return "config: the pool needs at least 10 pages";
	if (cfg->pool_pages >= UMBRA_REF_ID_LIMIT)
		return "config: the pool is larger than reference ids allow";
	if (cfg->ref_extents < UMBRA_MIN_REF_EXTENTS)
		return "config: fewer reference extents than one shadow page needs";
	if (cfg->pool_hpa % SP_PAGE_SIZE)
		return "config: the pool is not page aligned";
	if (cfg->caps.maxphyaddr < MIN_MAXPHYADDR ||
	    cfg->caps.maxphyaddr > MAX_MAXPHYADDR)
		return "config: MAXPHYADDR must be 32..52";
	return NULL;
}

enum umbra_status umbra_mmu_create(struct umbra_mmu **out,
				   const struct umbra_env *env,
				   const struct umbra_config *cfg)
{
	struct umbra_mmu *mmu;
	struct umbra_mmu empty = { .error = NULL };
	enum umbra_status st;

	*out = NULL;
	if (check_args(env, cfg))
		return UMBRA_ERR_INVALID;
	mmu = env->alloc_meta(env->ctx, sizeof(*mmu));
	if (!mmu)
		return UMBRA_ERR_NOMEM;
	*mmu = empty;
	mmu->env = *env;
	mmu->cfg = *cfg;
	mmu->gmem = slots_gmem(mmu);
	umbra_stats_init(&mmu->stats);
	handlers_init(mmu);
	st = pool_init(mmu);
	if (st == UMBRA_OK)
		st = paging_init(mmu);
	if (st != UMBRA_OK) {
		umbra_mmu_destroy(mmu);
		return st;
	}
	*out = mmu;
	return UMBRA_OK;
}

void umbra_mmu_destroy(struct umbra_mmu *mmu)
{
	uint32_t i;

	if (!mmu)
		return;
	for (i = 0; i < mmu->n_slots; i++) {
		if (mmu->slots[i].frame)
			mmu->env.free_meta(mmu->env.ctx, mmu->slots[i].frame,
					   sizeof(struct frame) *
						   mmu->slots[i].frames);
		dirty_log_free(mmu, &mmu->slots[i]);
	}
	pool_fini(mmu);
	mmu->env.free_meta(mmu->env.ctx, mmu, sizeof(*mmu));
}

const char *umbra_mmu_last_error(const struct umbra_mmu *mmu)
{
	return mmu->error ? mmu->error : "no error";
}

const struct umbra_stats *umbra_mmu_stats(const struct umbra_mmu *mmu)
{
	return &mmu->stats;
}

void umbra_mmu_stats_reset(struct umbra_mmu *mmu)
{
	umbra_stats_reset(&mmu->stats);
}
