SELECT CAST(row_number() OVER (ORDER BY sku) AS INTEGER) AS product_key,
       sku, name, category, subcategory, brand, list_price, launched_on
FROM products
