/**
 * English function words that get weight 0 in the builtin model: articles, pronouns, auxiliaries,
 * prepositions, conjunctions and question words. With SIF weights alone, frequent question words ("how",
 * "where", "what") keep a weight of 0.6-0.8 and make "How does X ...?" headings match any "How ...?" query.
 * Content words stay, however frequent ("government", "film", "data").
 */
export const STOPWORDS: readonly string[] = `
a about above after again against all also am an and any are as at
be because been before being below between both but by
can could did do does doing done down during
each either else ever every few for from further
had has have having he her here hers herself him himself his how
i if in into is it its itself just
let may me might more most much must my myself
neither no nor not now of off on once only or other others otherwise ought our ours ourselves out over own
per same shall she should so some such
than that the their theirs them themselves then there therefore these they this those though through thus
to too under until up upon us
very was we were what whatever when whenever where whereas wherever whether which while who whoever whom
whose why will with within without would
yet you your yours yourself yourselves
`
  .split(/\s+/)
  .filter(Boolean);
