import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prepareServingProcess } from '../../src/server/serving-process.js';
import { hugePageCopies, populateMappings, setHugePageCopies, setPopulateMappings, transparentHugePages } from '../../src/math/kernels/native.js';

describe('serving process settings', () => {
  it('huge-page copies only for a process that serves alone (FUNNEL_HUGE_PAGES forces either way); mappings populated', () => {
    const was = { huge: hugePageCopies(), populate: populateMappings(), env: process.env.FUNNEL_HUGE_PAGES };
    try {
      delete process.env.FUNNEL_HUGE_PAGES;
      prepareServingProcess({ shared: true });
      assert.equal(hugePageCopies(), false);
      assert.equal(populateMappings(), process.env.FUNNEL_POPULATE !== '0');
      prepareServingProcess();
      assert.equal(hugePageCopies(), transparentHugePages());
      process.env.FUNNEL_HUGE_PAGES = '0';
      prepareServingProcess();
      assert.equal(hugePageCopies(), false);
      process.env.FUNNEL_HUGE_PAGES = '1';
      prepareServingProcess({ shared: true });
      assert.equal(hugePageCopies(), transparentHugePages());
    } finally {
      if (was.env === undefined) delete process.env.FUNNEL_HUGE_PAGES;
      else process.env.FUNNEL_HUGE_PAGES = was.env;
      setHugePageCopies(was.huge);
      setPopulateMappings(was.populate);
    }
  });
});
