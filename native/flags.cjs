// Prints the compiler flags for binding.gyp: tuned for this machine unless FUNNEL_PORTABLE=1
// (any CPU of the architecture; baseline SIMD only). FUNNEL_NO_SIMD=1 builds the scalar loops.
// Usage (from binding.gyp): <!@(node flags.cjs)
const portable = ['1', 'true', 'yes'].includes(String(process.env.FUNNEL_PORTABLE || '').toLowerCase());
const flags = ['-O3', '-ffp-contract=fast', '-fno-math-errno', '-fno-trapping-math'];
if (process.env.FUNNEL_NO_SIMD) flags.push('-DFUNNEL_NO_SIMD=1'); // scalar loops only (to test them)
if (portable) flags.push('-DFUNNEL_PORTABLE=1');
else if (process.arch === 'x64' || process.arch === 'ia32') flags.push('-march=native', '-mtune=native');
else flags.push('-mcpu=native');
console.log(flags.join(' '));
