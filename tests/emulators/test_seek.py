# test_seek: the ordered keys both emulators page through (seek.SortedKeys) against one sorted list:
# keys added among others, appended above them all, removed, and seeded in bulk, with runs short enough
# that they are cut in two and emptied along the way.
import bisect
import random
import unittest

import seek


class ShortRuns(seek.SortedKeys):
    RUN = 4


class TestSortedKeys(unittest.TestCase):
    def test_same_order_as_one_sorted_list(self):
        rng = random.Random(5)
        for _ in range(200):
            keys, expected = ShortRuns(), []
            if rng.random() < 0.3:
                seeded = rng.sample(range(1000), rng.randrange(50))
                keys.extend_sorted(seeded)
                expected = sorted(seeded)
            top = 2000
            for _ in range(rng.randrange(200)):
                r = rng.random()
                if r < 0.45:
                    k = rng.randrange(1000)
                    if k not in expected:
                        keys.add(k)
                        bisect.insort(expected, k)
                elif r < 0.6:
                    top += rng.randrange(1, 3)
                    keys.append(top)
                    expected.append(top)
                elif r < 0.9:
                    k = rng.choice(expected) if expected and rng.random() < 0.8 else rng.randrange(3000)
                    keys.remove(k)
                    if k in expected:
                        expected.remove(k)
                else:
                    self.assertEqual(keys.keys, expected)
                    k = rng.randrange(3000)
                    self.assertEqual(keys.position_after(k), bisect.bisect_right(expected, k))
                self.assertEqual(len(keys), len(expected))
            self.assertEqual(keys.keys, expected)
            self.assertTrue(all(len(run) <= 2 * ShortRuns.RUN for run in keys.runs))

    def test_a_reader_keeps_the_keys_it_read(self):  # a page being walked is not changed under it
        keys = seek.SortedKeys()
        keys.extend_sorted(["b", "d"])
        read = keys.keys
        keys.add("c")
        keys.remove("b")
        self.assertEqual(read, ["b", "d"])
        self.assertEqual(keys.keys, ["c", "d"])


if __name__ == "__main__":
    unittest.main()
