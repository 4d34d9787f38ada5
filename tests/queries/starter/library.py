"""A third, small model for the mock tests: a library (loans, books, authors, members,
branches). Names share nothing with the demo or the support desk; it carries column hints."""

from __future__ import annotations

from pathlib import Path

LIBRARY = """
version: 1
name: library
title: City library

tables:
  loans:
    kind: fact
    primary_key: loan_id
    time: loaned_at
    joins:
      books: book_id
      members: member_id
      branches: {from: branch_code, to: branch_id}
    columns:
      fee: {type: DOUBLE, null_rate: 0.2, min: 0}
  books:
    kind: dimension
    primary_key: book_id
    joins:
      authors: author_id
  authors:
    kind: dimension
    primary_key: author_id
  members:
    kind: dimension
    primary_key: member_id
    time: joined_on
    pii: [email]
    joins:
      branches: {from: home_branch, to: branch_id}
    columns:
      tier: {values: [standard, student, senior]}
      age: {type: INTEGER, min: 12, max: 90, distribution: normal}
  branches:
    kind: dimension
    primary_key: branch_id
    columns:
      branch_id: {type: VARCHAR, values: [CEN, NTH, STH, EST]}
      opened_year: {type: INTEGER, min: 1890, max: 2020, distribution: uniform}

dimensions:
  loan_date:   {time: true, label: Loan date}
  genre:       {column: books.genre, label: Genre, drill: title}
  title:       {column: books.title, label: Title}
  author:      {column: authors.author_name, label: Author}
  branch:      {column: branches.branch_name, label: Branch}
  tier:        {column: members.tier, label: Member tier}
  status:      {column: loans.status, label: Loan status}
  staff_pick:  {column: books.is_staff_pick, label: Staff pick}

metrics:
  loans:
    label: Loans
    fact: loans
    sql: count(*)
  borrowers:
    label: Borrowers
    fact: loans
    sql: count(distinct member_id)
  returns:
    label: Returns
    fact: loans
    sql: count(*)
    filter: "status in ('returned', 'returned_late')"
  late_returns:
    label: Late returns
    fact: loans
    sql: count(*)
    filter: "status = 'returned_late'"
  fees:
    label: Fees
    fact: loans
    sql: sum(fee)
    format: currency
  loan_days:
    label: Average loan days
    fact: loans
    sql: avg(loan_days)
  return_rate:
    label: Return rate
    ratio: [returns, loans]
    format: percent
  late_share:
    label: Late share of returns
    ratio: [late_returns, returns]
    format: percent
  loans_per_borrower:
    label: Loans per borrower
    ratio: [loans, borrowers]
  new_members:
    label: New members
    fact: members
    sql: count(*)

checks:
  loans:
    - {kind: unique, column: loan_id, risk: 1}
    - {kind: relationship, column: book_id, to: books.book_id, risk: 1}
    - {kind: range, column: loan_days, min: 1, max: 60, risk: 1}
    - kind: sql
      name: renewals_are_capped
      risk: 1
      sql: SELECT loan_id, renewals, fee FROM loans WHERE renewals > 5 OR fee < 0
  members:
    - {kind: accepted_values, column: tier, values: [standard, student, senior], risk: 1}
    - {kind: not_null, column: email, risk: 1}

tree:
  loans: {children: [borrowers, loans_per_borrower], relation: product}

boards:
  circulation:
    tier: 0
    title: Circulation
    period: month
    sections:
      - title: Lending
        bans: [loans, borrowers, returns, return_rate]
        charts:
          - {type: line, metric: loans, grain: week, compare: previous_year}
          - {type: bar, metric: loans, by: genre}
  branch_ops:
    tier: 1
    title: Branch operations
    filters: [loan_date, branch, genre]
    sections:
      - title: Loans
        charts:
          - {type: line, metric: loans, by: branch}
          - {type: breakdown, metrics: [loans, returns, return_rate], by: tier}
          - {type: table, metrics: [loans, fees], by: author}
"""


def write_library(folder: Path) -> Path:
    """The library model as a file in ``folder``."""
    path = folder / "library.yaml"
    path.write_text(LIBRARY, encoding="utf-8")
    return path
