package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RetryBudgetTest {
  @Test
  void fullAtTheStart() {
    RetryBudget budget = new RetryBudget();
    assertEquals(10.0, budget.tokens());
    assertTrue(budget.allowsRetry());
  }

  @Test
  void retriesStopAtHalfTheBucket() {
    RetryBudget budget = new RetryBudget();
    for (int i = 0; i < 4; i++) budget.onRetryableFailure();
    assertEquals(6.0, budget.tokens());
    assertTrue(budget.allowsRetry());
    budget.onRetryableFailure();
    assertEquals(5.0, budget.tokens());
    assertFalse(budget.allowsRetry(), "5 tokens is not more than 5");
  }

  @Test
  void neverBelowZeroNorAboveTen() {
    RetryBudget budget = new RetryBudget();
    for (int i = 0; i < 30; i++) budget.onRetryableFailure();
    assertEquals(0.0, budget.tokens());
    for (int i = 0; i < 500; i++) budget.onSuccess();
    assertEquals(10.0, budget.tokens());
  }

  @Test
  void successesRefillByATenth() {
    RetryBudget budget = new RetryBudget();
    for (int i = 0; i < 5; i++) budget.onRetryableFailure();
    assertFalse(budget.allowsRetry());
    budget.onSuccess();
    assertEquals(5.1, budget.tokens(), 1e-9);
    assertTrue(budget.allowsRetry());
    for (int i = 0; i < 9; i++) budget.onSuccess();
    assertEquals(6.0, budget.tokens(), 1e-9);
  }
}
