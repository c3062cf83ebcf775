/** Shapes a Store summary into the GET /api/v1/insights/summary body (/work/notes/summary-contract.md). */
import type { InsightSummary, StatusCounts } from "../store/Store.js"

export const summaryView = (
  summary: InsightSummary,
  statusCounts: StatusCounts,
  bucket: "hour" | "day",
  range: { readonly startTime?: string | undefined; readonly endTime?: string | undefined }
) => ({
  start_time: range.startTime ?? null,
  end_time: range.endTime ?? null,
  bucket,
  total: summary.total,
  mean_sentiment: summary.meanSentiment,
  buckets: summary.buckets.map((b) => ({ start: b.start, count: b.count, mean_sentiment: b.meanSentiment, labels: b.labels })),
  labels: summary.labels,
  top_clusters: summary.topClusters.map((c) => ({ cluster: c.cluster, count: c.count, mean_sentiment: c.meanSentiment })),
  analyzers: summary.analyzers.map((a) => ({
    analyzer: a.analyzer,
    count: a.count,
    prompt_tokens: a.promptTokens,
    completion_tokens: a.completionTokens,
    cost_usd: a.costUsd
  })),
  status_counts: {
    pending: statusCounts.pending,
    processing: statusCounts.processing,
    completed: statusCounts.completed,
    failed: statusCounts.failed
  }
})
