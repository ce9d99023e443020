#ifndef FETCHPOOL_BENCH_SOAK_SELF_TEST_H_
#define FETCHPOOL_BENCH_SOAK_SELF_TEST_H_

namespace fetchpool::soak {

// --self_test: each invariant check must flag a StatsResponse crafted to
// break it, and pass a good one; the body checks likewise. Guards against a
// soak that passes because it checks nothing. Prints one line per case;
// returns the exit status (0: every check catches its case).
int SelfTest();

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_SELF_TEST_H_
